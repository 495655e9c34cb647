-- grain: one row per application with a stipend and self-identification attribute on record
-- title: Stipend applications' recorded demographic answers
-- description: The demographic_attributes rows of the candidates behind applications with a stipend (blanks and "Decline to state" are already Unknown there), without filling in people who gave no demographics row and in no particular order: the analysis treats a missing answer as Unknown, as stipend_attributes does. Each answer names its application by stipend_row, the application's 0-based position in stipend_applications under the same filters (that query's order: application_id), so the analysis places answers by position instead of looking up 1.7M id strings (0.28 s at a million applications). At a million applications this is a single-key join instead of a cross join and a sort of 1.7M rows. Input of the stipend gap analysis; never shown without small-cell suppression.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

applications as (
    select * from applications
),

demographic_attributes as (
    select * from demographic_attributes
),

paid as (
    select
        application_id,
        candidate_id,
        -- the row stipend_applications gives this application (it orders by application_id)
        cast(row_number() over (order by application_id) - 1 as integer) as stipend_row
    from applications
    where stipend_amount is not null
      and ($start_date is null or applied_at >= cast($start_date as date))
      and ($end_date is null or applied_at < cast($end_date as date) + interval 1 day)
      and ($roles is null or list_contains($roles, role))
      and ($cohorts is null or list_contains($cohorts, cohort_id))
),

final as (
    select
        paid.stipend_row,
        demographic_attributes.attribute,
        demographic_attributes.value
    from paid
    inner join demographic_attributes
        on demographic_attributes.candidate_id = paid.candidate_id
)

select * from final
