-- grain: one row per score (application, grader, rubric axis)
-- title: Assessor scores
-- description: Every rubric score of the filtered applications with its grader, the rubric's scale and pass mark, and when it was given. The input of the Assessors page (reliability, severity, grader bias, LLM agreement).
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

cohorts as (
    select * from cohorts
),

rubrics as (
    select * from rubrics
),

filtered as (
    select
        applications.application_id,
        applications.candidate_id,
        applications.cohort_id,
        applications.role,
    from applications
    where ($start_date is null or applications.applied_at >= $start_date::date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
),

final as (
    select
        -- who and what
        scores.application_id,
        filtered.candidate_id,
        filtered.cohort_id,
        filtered.role,
        cohorts.rubric_version,
        scores.grader_id,
        scores.grader_kind,
        scores.axis,
        -- the score on its scale
        scores.score,
        rubrics.min_score,
        rubrics.max_score,
        rubrics.pass_mark,
        scores.scored_at,
    from scores
    inner join filtered on filtered.application_id = scores.application_id
    left join cohorts on cohorts.cohort_id = filtered.cohort_id
    left join rubrics
        on rubrics.rubric_version = cohorts.rubric_version
        and rubrics.axis = scores.axis
)

select * from final
order by application_id, grader_id, axis
