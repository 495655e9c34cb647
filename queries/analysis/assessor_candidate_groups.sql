-- grain: one row per scored application and demographic attribute
-- title: Demographic groups of scored applications
-- description: For every filtered application with at least one score, the candidate's self-identified group on each attribute (sex, race_ethnicity and any further attribute; blanks and Decline to state are Unknown). Used for differential rater functioning and LLM agreement by subgroup.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

applications as (
    select * from applications
),

scores as (
    select * from scores
),

demographic_attributes as (
    select * from demographic_attributes
),

scored as (
    select distinct
        applications.application_id,
        applications.candidate_id,
    from applications
    inner join scores on scores.application_id = applications.application_id
    where ($start_date is null or applications.applied_at >= $start_date::date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
),

final as (
    select
        scored.application_id,
        demographic_attributes.attribute,
        demographic_attributes.value as "group",
    from scored
    inner join demographic_attributes
        on demographic_attributes.candidate_id = scored.candidate_id
)

select * from final
order by application_id, attribute
