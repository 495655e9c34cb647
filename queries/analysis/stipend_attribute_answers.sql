-- grain: one row per application with a stipend and self-identification attribute on record
-- title: Stipend applications' recorded demographic answers
-- description: The demographic_attributes rows of the candidates behind applications with a stipend (blanks and "Decline to state" are already Unknown there), without filling in people who gave no demographics row and in no particular order: the analysis treats a missing answer as Unknown, as stipend_attributes does. Each answer carries its application_id, the key the analysis joins it on to the rows of stipend_applications, so the two queries need not list rows in the same order. Input of the stipend gap analysis; never shown without small-cell suppression.
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
        candidate_id
    from applications
    where stipend_amount is not null
      and ($start_date is null or applied_at >= cast($start_date as date))
      and ($end_date is null or applied_at < cast($end_date as date) + interval 1 day)
      and ($roles is null or list_contains($roles, role))
      and ($cohorts is null or list_contains($cohorts, cohort_id))
),

final as (
    select
        paid.application_id,
        demographic_attributes.attribute,
        demographic_attributes.value
    from paid
    inner join demographic_attributes
        on demographic_attributes.candidate_id = paid.candidate_id
)

select * from final
