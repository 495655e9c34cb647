-- grain: one row per application and rubric axis scored by both the LLM and at least one human
-- title: LLM-vs-human disagreements
-- description: Where the LLM's score on an axis differs from the mean human score by at least min_gap rubric points: both scores, the gap (LLM minus humans; positive = the LLM was more generous), how many humans scored, and whether the two sides fall on different sides of the axis's pass mark. Largest gaps first.
-- param: min_gap number = 1.0 | smallest absolute gap, in rubric points, to list
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
    select applications.application_id, applications.role, applications.cohort_id,
    from applications
    where ($start_date is null or applications.applied_at >= $start_date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
),

by_side as (
    select
        scores.application_id,
        scores.axis,
        avg(scores.score) filter (where scores.grader_kind = 'llm') as llm_score,
        avg(scores.score) filter (where scores.grader_kind = 'human') as human_mean_score,
        count(distinct scores.grader_id) filter (where scores.grader_kind = 'human') as human_graders,
        min(scores.score) filter (where scores.grader_kind = 'human') as human_min_score,
        max(scores.score) filter (where scores.grader_kind = 'human') as human_max_score,
    from scores
    inner join filtered on filtered.application_id = scores.application_id
    group by scores.application_id, scores.axis
),

final as (
    select
        by_side.application_id,
        filtered.role,
        filtered.cohort_id,
        by_side.axis,
        by_side.llm_score,
        by_side.human_mean_score,
        by_side.llm_score - by_side.human_mean_score as gap,
        by_side.human_graders,
        by_side.human_min_score,
        by_side.human_max_score,
        rubrics.pass_mark,
        (by_side.llm_score >= rubrics.pass_mark) <> (by_side.human_mean_score >= rubrics.pass_mark)
            as crosses_pass_mark,
    from by_side
    inner join filtered on filtered.application_id = by_side.application_id
    left join cohorts on cohorts.cohort_id = filtered.cohort_id
    left join rubrics
        on rubrics.rubric_version = cohorts.rubric_version
        and rubrics.axis = by_side.axis
    where by_side.llm_score is not null
      and by_side.human_mean_score is not null
      and abs(by_side.llm_score - by_side.human_mean_score) >= $min_gap
)

select * from final
order by abs(gap) desc, application_id, axis
