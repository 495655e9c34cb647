-- grain: one row per ISO week (Monday) and track
-- title: Applications by week
-- description: Weekly volume by track: applications made in the week (by applied_at), how many of them were selected and hired so far, and how many are still in progress as of the warehouse's as-of.
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

events as (
    select
        application_id,
        bool_or(event not in ('applied', 'rejected', 'withdrew')) as selected,
        bool_or(event = 'hired') as hired,
        bool_or(event in ('hired', 'rejected', 'withdrew')) as finished,
    from stage_events
    group by application_id
),

final as (
    select
        date_trunc('week', filtered.applied_at)::date as week_starting,
        filtered.track,
        count(*) as applications,
        count(*) filter (where events.selected) as selected,
        count(*) filter (where events.hired) as hired,
        count(*) filter (where not coalesce(events.finished, false)) as in_progress,
    from filtered
    left join events on events.application_id = filtered.application_id
    group by week_starting, filtered.track
)

select * from final
order by week_starting, track
