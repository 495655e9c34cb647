-- grain: one row per application
-- title: Time to hire applications
-- description: Each application's track, role, cohort start, outcome and the first time it reached each stage: the columns of application_journeys that the time-to-hire clocks and stage durations use, without the text ids (a million of them cost more to fetch than every other column together), in application_journeys' order (by application id).
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

applications as (
    -- the row number: an integer key for the per-application group by below
    select rowid as application_row, * from applications
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

as_of as (
    select max(as_of) as as_of from loads
),

-- the same filters as application_journeys
filtered as (
    select applications.*
    from applications
    where ($start_date::date is null or applications.applied_at >= $start_date::date)
      and ($end_date::date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles::varchar[] is null or list_contains($roles::varchar[], applications.role))
      and (
          $cohorts::varchar[] is null
          or list_contains($cohorts::varchar[], applications.cohort_id)
      )
),

-- application_journeys' events_wide, grouped by the integer row number instead of the id text
events_wide as (
    select
        filtered.application_row,
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
    from filtered
    inner join stage_events on stage_events.application_id = filtered.application_id
    group by filtered.application_row
),

joined as (
    select
        filtered.application_id,
        filtered.track,
        filtered.role,
        filtered.applied_at,
        -- a timestamp, as application_journeys' rows arrive in pandas
        cohorts.starts_on::timestamp as cohort_starts_on,
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
    left join events_wide on events_wide.application_row = filtered.application_row
    left join cohorts on cohorts.cohort_id = filtered.cohort_id
    cross join as_of
),

final as (
    select
        application_id,
        track,
        role,
        applied_at,
        cohort_starts_on,
        reached_applied_at,
        reached_selected_at,
        reached_submitted_at,
        reached_triage_passed_at,
        reached_rubric_passed_at,
        reached_take_home_passed_at,
        reached_extension_at,
        reached_retainer_at,
        reached_hired_at,
        -- application_journeys' outcome and outcome_at
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
        end as outcome_at,
        as_of,
    from joined
)

-- application_journeys' order: the bootstrap resamples hires by position
select * exclude (application_id) from final
order by application_id
