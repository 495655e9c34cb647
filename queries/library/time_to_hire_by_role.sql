-- grain: one row per role and track
-- title: Time to hire by role
-- description: For each role and track: applications, hires, the hire rate, and the calendar days from application to hire for those hired (quartiles and 90th percentile; days between the two dates, as on the Time to hire page). Only hires are timed here, the number ATS reports show; the Time to hire page adds the applications still in progress (censored) and the rejected and withdrawn (competing) with the Aalen-Johansen estimator.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

applications as (
    select * from applications
),

stage_events as (
    select * from stage_events
),

filtered as (
    select applications.*
    from applications
    where ($start_date is null or applications.applied_at >= $start_date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
),

hired as (
    select application_id, min(occurred_at) as hired_at,
    from stage_events
    where event = 'hired'
    group by application_id
),

timed as (
    select
        filtered.role,
        filtered.track,
        hired.hired_at is not null as is_hired,
        date_diff('day', filtered.applied_at::date, hired.hired_at::date) as days_to_hire,
    from filtered
    left join hired on hired.application_id = filtered.application_id
),

final as (
    select
        role,
        track,
        count(*) as applications,
        count(*) filter (where is_hired) as hires,
        count(*) filter (where is_hired) / count(*) as hire_rate,
        quantile_cont(days_to_hire, 0.25) as p25_days_to_hire,
        median(days_to_hire) as median_days_to_hire,
        quantile_cont(days_to_hire, 0.75) as p75_days_to_hire,
        quantile_cont(days_to_hire, 0.9) as p90_days_to_hire,
    from timed
    group by role, track
)

select * from final
order by role, track
