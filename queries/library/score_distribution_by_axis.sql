-- grain: one row per rubric version, axis and grader kind
-- title: Score distribution by rubric axis
-- description: How each rubric axis is scored by humans and by the LLM: number of scores, mean, standard deviation, quartiles, the pass mark and the share of scores at or above it, and how many scores fall outside the axis's min_score..max_score.
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
    select applications.application_id, applications.cohort_id,
    from applications
    where ($start_date is null or applications.applied_at >= $start_date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
),

scored as (
    select
        coalesce(cohorts.rubric_version, 'none') as rubric_version,
        scores.axis,
        scores.grader_kind,
        scores.score,
        rubrics.pass_mark,
        rubrics.min_score,
        rubrics.max_score,
    from scores
    inner join filtered on filtered.application_id = scores.application_id
    left join cohorts on cohorts.cohort_id = filtered.cohort_id
    left join rubrics
        on rubrics.rubric_version = cohorts.rubric_version
        and rubrics.axis = scores.axis
),

final as (
    select
        rubric_version,
        axis,
        grader_kind,
        count(*) as scores,
        avg(score) as mean_score,
        stddev_samp(score) as sd_score,
        quantile_cont(score, 0.25) as p25_score,
        median(score) as median_score,
        quantile_cont(score, 0.75) as p75_score,
        any_value(pass_mark) as pass_mark,
        avg(case when score >= pass_mark then 1.0 when pass_mark is not null then 0.0 end)
            as share_at_or_above_pass_mark,
        count(*) filter (where score < min_score or score > max_score) as out_of_range,
    from scored
    group by rubric_version, axis, grader_kind
)

select * from final
order by rubric_version, axis, grader_kind
