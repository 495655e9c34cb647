-- grain: one row per measure (a clock or a stage), track, role, whole calendar days and outcome
-- title: Time to hire day counts
-- description: How many applications ended each time-to-hire clock or left each stage after how many calendar days, and how: the counts every time-to-hire estimator needs (Aalen-Johansen, Kaplan-Meier, log-rank, medians among hires), so a million applications reach Python as a few thousand rows. kind 'clock': outcome 1 = the clock's end event (hired, or selected), 2 = rejected or withdrew first, 0 = in progress (censored at the as-of). kind 'stage': outcome 1 = left the stage (next stage, rejection or withdrawal), 0 = still in it at the as-of. Days are calendar days between the two dates (applied on Jan 1, hired on Jan 31: 30), as ATS reports count them. The same rules as dashboard.analysis.time_to_hire.day_counts on application_journeys rows.
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

-- application_journeys' events_wide: every application's, then joined to the filtered ones
-- (grouping the events by id without joining them to the filtered applications first was 15%
-- less CPU at a million applications than joining 3.3M events and grouping by row number)
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

-- One row per application, as calendar dates. A stage counts as reached by the earliest of its
-- own and every later stage's time (hired without a recorded 'selected' event was selected no
-- later than hired): a running minimum from hired backwards. least() skips nulls.
effective as (
    select
        filtered.track,
        filtered.role,
        filtered.applied_at::date as applied_on,
        cohorts.starts_on as cohort_starts_on,
        as_of.as_of::date as as_of_on,
        -- application_journeys' outcome: rejected or withdrew (not hired) end the application
        events_wide.reached_hired_at is null
        and (events_wide.rejected_at is not null or events_wide.withdrew_at is not null)
            as terminal,
        least(events_wide.rejected_at, events_wide.withdrew_at)::date as terminal_on,
        -- each stage's date is the earlier of its own and the next stage's (DuckDB lets a
        -- select list use the aliases defined before it)
        events_wide.reached_hired_at::date as hired_on,
        least(events_wide.reached_retainer_at::date, hired_on) as retainer_on,
        least(events_wide.reached_extension_at::date, retainer_on) as extension_on,
        least(events_wide.reached_take_home_passed_at::date, extension_on) as take_home_passed_on,
        least(events_wide.reached_rubric_passed_at::date, take_home_passed_on) as rubric_passed_on,
        least(events_wide.reached_triage_passed_at::date, rubric_passed_on) as triage_passed_on,
        least(events_wide.reached_submitted_at::date, triage_passed_on) as submitted_on,
        least(events_wide.reached_selected_at::date, submitted_on) as selected_on,
        -- applied is reached by everyone: its event, or the application's own timestamp
        least(
            coalesce(events_wide.applied_event_at, filtered.applied_at)::date, selected_on
        ) as applied_stage_on
    from filtered
    left join events_wide on events_wide.application_id = filtered.application_id
    left join cohorts on cohorts.cohort_id = filtered.cohort_id
    cross join as_of
),

-- the three clocks: from a start date to an end event, unless rejection or withdrawal came first
clock_spans as (
    select
        track,
        role,
        terminal,
        terminal_on,
        as_of_on,
        unnest(
            [
                {'measure': 'applied_to_hired', 'start_on': applied_on, 'event_on': hired_on},
                {
                    'measure': 'cohort_start_to_hired',
                    -- micro-internship applications selected into a cohort that has a start
                    'start_on': case
                        when track = 'micro_internship' and selected_on is not null
                            then cohort_starts_on
                    end,
                    'event_on': hired_on
                },
                {'measure': 'applied_to_selected', 'start_on': applied_on, 'event_on': selected_on}
            ],
            recursive := true
        )
    from effective
),

clock_outcomes as (
    select
        measure,
        track,
        role,
        case
            when event_on is not null then 1
            when terminal then 2
            else 0
        end as outcome,
        date_diff(
            'day',
            start_on,
            case
                when event_on is not null then event_on
                when terminal then coalesce(terminal_on, as_of_on)
                else as_of_on
            end
        ) as days
    from clock_spans
    where start_on is not null
),

clock_rows as (
    select
        'clock' as kind,
        measure,
        track,
        role,
        -- an outcome before the cohort's first day counts as day 0
        case when measure = 'cohort_start_to_hired' then greatest(days, 0) else days end as days,
        outcome
    from clock_outcomes
    where days is not null
      -- an in-progress application whose cohort has not started is not yet at risk
      and not (measure = 'cohort_start_to_hired' and outcome = 0 and days < 0)
),

-- time in each stage: from reaching it to reaching the next one, or to the rejection or
-- withdrawal that ended the application there; still in it at the as-of: censored
stage_spans as (
    select
        track,
        role,
        terminal,
        terminal_on,
        as_of_on,
        unnest(
            [
                {'measure': 'applied', 'entered_on': applied_stage_on, 'next_on': selected_on},
                {'measure': 'selected', 'entered_on': selected_on, 'next_on': submitted_on},
                {
                    'measure': 'submitted',
                    'entered_on': submitted_on,
                    'next_on': triage_passed_on
                },
                {
                    'measure': 'triage_passed',
                    'entered_on': triage_passed_on,
                    'next_on': rubric_passed_on
                },
                {
                    'measure': 'rubric_passed',
                    'entered_on': rubric_passed_on,
                    'next_on': take_home_passed_on
                },
                {
                    'measure': 'take_home_passed',
                    'entered_on': take_home_passed_on,
                    'next_on': extension_on
                },
                {'measure': 'extension', 'entered_on': extension_on, 'next_on': retainer_on},
                {'measure': 'retainer', 'entered_on': retainer_on, 'next_on': hired_on}
            ],
            recursive := true
        )
    from effective
),

stage_rows as (
    select
        'stage' as kind,
        measure,
        track,
        role,
        greatest(
            date_diff(
                'day',
                entered_on,
                coalesce(next_on, case when terminal then terminal_on end, as_of_on)
            ),
            0
        ) as days,
        case when next_on is not null or (terminal and terminal_on is not null) then 1 else 0 end
            as outcome
    from stage_spans
    where entered_on is not null and as_of_on is not null
),

final as (
    select kind, measure, track, role, days, outcome, count(*) as applications
    from (
        select * from clock_rows
        union all
        select * from stage_rows
    )
    group by all
)

select * from final
order by kind, measure, track, role nulls last, days, outcome
