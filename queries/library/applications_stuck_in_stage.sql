-- grain: one row per in-progress application with no event for at least min_days
-- title: Applications stuck in a stage
-- description: Applications that are neither hired, rejected nor withdrawn and whose latest event (or application) is at least min_days whole days (24-hour periods) before the warehouse's as-of: the stage they are waiting in, since when, and for how many days. Oldest first, to chase up.
-- param: min_days integer = 14 | only applications waiting at least this many days
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

loads as (
    select * from loads
),

stages as (
    select *
    from (
        values
            (0, 'applied'),
            (1, 'selected'),
            (2, 'submitted'),
            (3, 'triage_passed'),
            (4, 'rubric_passed'),
            (5, 'take_home_passed'),
            (6, 'extension'),
            (7, 'retainer'),
            (8, 'hired')
    ) as stages (stage_index, stage)
),

as_of as (
    select max(as_of) as as_of from loads
),

filtered as (
    select applications.*
    from applications
    where ($start_date is null or applications.applied_at >= $start_date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
),

per_application as (
    select
        filtered.application_id,
        filtered.role,
        filtered.cohort_id,
        filtered.applied_at,
        coalesce(max(stages.stage_index), 0) as furthest_stage_index,
        greatest(max(stage_events.occurred_at), filtered.applied_at) as last_event_at,
        bool_or(stage_events.event in ('hired', 'rejected', 'withdrew')) as finished,
    from filtered
    left join stage_events on stage_events.application_id = filtered.application_id
    left join stages on stages.stage = stage_events.event
    group by filtered.application_id, filtered.role, filtered.cohort_id, filtered.applied_at
),

final as (
    select
        per_application.application_id,
        per_application.role,
        per_application.cohort_id,
        per_application.applied_at,
        stages.stage as waiting_after_stage,
        per_application.last_event_at,
        floor(epoch(as_of.as_of - per_application.last_event_at) / 86400)::bigint as days_waiting,
        as_of.as_of,
    from per_application
    cross join as_of
    inner join stages on stages.stage_index = per_application.furthest_stage_index
    where not coalesce(per_application.finished, false)
      and floor(epoch(as_of.as_of - per_application.last_event_at) / 86400)::bigint >= $min_days
)

select * from final
order by days_waiting desc, application_id
