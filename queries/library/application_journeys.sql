-- grain: one row per application
-- title: Application journeys
-- description: Every application with the first time it reached each stage, the furthest stage it reached, and its outcome (hired, rejected, withdrew, or in progress as of the warehouse's as-of). The base of the funnel, time-to-hire and fairness analyses.
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

cohorts as (
    select * from cohorts
),

loads as (
    select * from loads
),

-- the warehouse's as-of: the latest load's cut-off
as_of as (
    select max(as_of) as as_of from loads
),

filtered as (
    select applications.*
    from applications
    -- casts: a null parameter has no type of its own, and DuckDB cannot pick an overload for it
    where ($start_date::date is null or applications.applied_at >= $start_date::date)
      and ($end_date::date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles::varchar[] is null or list_contains($roles::varchar[], applications.role))
      and (
          $cohorts::varchar[] is null
          or list_contains($cohorts::varchar[], applications.cohort_id)
      )
),

-- one row per application: first time each event happened
events_wide as (
    select
        application_id,
        min(occurred_at) filter (where event = 'applied') as applied_event_at,
        min(occurred_at) filter (where event = 'selected') as reached_selected_at,
        min(occurred_at) filter (where event = 'submitted') as reached_submitted_at,
        min(occurred_at) filter (where event = 'triage_passed') as reached_triage_passed_at,
        min(occurred_at) filter (where event = 'rubric_passed') as reached_rubric_passed_at,
        min(occurred_at) filter (where event = 'take_home_passed') as reached_take_home_passed_at,
        min(occurred_at) filter (where event = 'extension') as reached_extension_at,
        min(occurred_at) filter (where event = 'retainer') as reached_retainer_at,
        min(occurred_at) filter (where event = 'hired') as reached_hired_at,
        min(occurred_at) filter (where event = 'rejected') as rejected_at,
        min(occurred_at) filter (where event = 'withdrew') as withdrew_at
    from stage_events
    group by application_id
),

joined as (
    select
        filtered.application_id,
        filtered.candidate_id,
        filtered.track,
        filtered.cohort_id,
        filtered.role,
        filtered.source,
        filtered.country,
        filtered.region,
        filtered.metro,
        filtered.applied_at,
        cohorts.starts_on as cohort_starts_on,
        cohorts.ends_on as cohort_ends_on,
        coalesce(events_wide.applied_event_at, filtered.applied_at) as reached_applied_at,
        events_wide.reached_selected_at,
        events_wide.reached_submitted_at,
        events_wide.reached_triage_passed_at,
        events_wide.reached_rubric_passed_at,
        events_wide.reached_take_home_passed_at,
        events_wide.reached_extension_at,
        events_wide.reached_retainer_at,
        events_wide.reached_hired_at,
        events_wide.rejected_at,
        events_wide.withdrew_at,
        as_of.as_of
    from filtered
    left join events_wide on events_wide.application_id = filtered.application_id
    left join cohorts on cohorts.cohort_id = filtered.cohort_id
    cross join as_of
),

final as (
    select
        *,
        -- furthest stage reached, as its position in the funnel (0 = applied .. 8 = hired)
        case
            when reached_hired_at is not null then 8
            when reached_retainer_at is not null then 7
            when reached_extension_at is not null then 6
            when reached_take_home_passed_at is not null then 5
            when reached_rubric_passed_at is not null then 4
            when reached_triage_passed_at is not null then 3
            when reached_submitted_at is not null then 2
            when reached_selected_at is not null then 1
            else 0
        end as furthest_stage_index,
        case
            when reached_hired_at is not null then 'hired'
            when rejected_at is not null and (withdrew_at is null or rejected_at <= withdrew_at)
                then 'rejected'
            when withdrew_at is not null then 'withdrew'
            else 'in_progress'
        end as outcome,
        case
            when reached_hired_at is not null then reached_hired_at
            else least(rejected_at, withdrew_at)
        end as outcome_at
    from joined
)

select * from final
order by application_id
