-- grain: one row per grader
-- title: Grader workload and turnaround
-- description: For each grader (human or LLM): applications and scores given, the first and last score, the mean score, and the turnaround from submission to the grader's first score on the application (median and 90th percentile, in hours).
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

stage_events as (
    select * from stage_events
),

filtered as (
    select applications.application_id
    from applications
    where ($start_date is null or applications.applied_at >= $start_date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
),

submitted as (
    select application_id, min(occurred_at) as submitted_at,
    from stage_events
    where event = 'submitted'
    group by application_id
),

-- one row per grader and application they scored
graded as (
    select
        scores.grader_id,
        scores.grader_kind,
        scores.application_id,
        count(*) as scores_given,
        avg(scores.score) as mean_score,
        min(scores.scored_at) as first_scored_at,
        max(scores.scored_at) as last_scored_at,
    from scores
    inner join filtered on filtered.application_id = scores.application_id
    group by scores.grader_id, scores.grader_kind, scores.application_id
),

turnaround as (
    select
        graded.*,
        epoch(graded.first_scored_at - submitted.submitted_at) / 3600.0 as turnaround_hours,
    from graded
    left join submitted on submitted.application_id = graded.application_id
),

final as (
    select
        grader_id,
        grader_kind,
        count(*) as applications_scored,
        sum(scores_given) as scores_given,
        sum(mean_score * scores_given) / sum(scores_given) as mean_score,
        min(first_scored_at) as first_scored_at,
        max(last_scored_at) as last_scored_at,
        median(turnaround_hours) as median_turnaround_hours,
        quantile_cont(turnaround_hours, 0.9) as p90_turnaround_hours,
        count(*) filter (where turnaround_hours is null) as applications_without_submission,
    from turnaround
    group by grader_id, grader_kind
)

select * from final
order by applications_scored desc, grader_id
