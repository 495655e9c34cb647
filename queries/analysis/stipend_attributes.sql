-- grain: one row per application with a stipend and self-identification attribute
-- title: Stipend applications' demographic attributes
-- description: The self-identified value of every demographic attribute (sex, race_ethnicity and any further column; blanks and "Decline to state" are Unknown) for each application with a stipend. An application whose candidate gave no demographics row gets Unknown for every attribute. Input of the stipend gap analysis; never shown without small-cell suppression.
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
    select application_id, candidate_id
    from applications
    where stipend_amount is not null
      and ($start_date is null or applied_at >= cast($start_date as date))
      and ($end_date is null or applied_at < cast($end_date as date) + interval 1 day)
      and ($roles is null or list_contains($roles, role))
      and ($cohorts is null or list_contains($cohorts, cohort_id))
),

attributes as (
    select distinct attribute from demographic_attributes
),

final as (
    select
        paid.application_id,
        attributes.attribute,
        coalesce(demographic_attributes.value, 'Unknown') as value
    from paid
    cross join attributes
    left join demographic_attributes
        on demographic_attributes.candidate_id = paid.candidate_id
        and demographic_attributes.attribute = attributes.attribute
)

select * from final
order by application_id, attribute
