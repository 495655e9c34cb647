-- grain: one row per measure (a clock or a stage), track, role, whole calendar days and outcome
-- title: Time to hire day counts
-- description: How many applications ended each time-to-hire clock or left each stage after how many calendar days, and how: the counts every time-to-hire estimator needs (Aalen-Johansen, Kaplan-Meier, log-rank, medians among hires), so a million applications reach Python as a few thousand rows. kind 'clock': outcome 1 = the clock's end event (hired, or selected), 2 = rejected or withdrew first, 0 = in progress (censored at the as-of). kind 'stage': outcome 1 = left the stage (next stage, rejection or withdrawal), 0 = still in it at the as-of. Days are calendar days between the two dates (applied on Jan 1, hired on Jan 31: 30), as ATS reports count them. The frame oracle in tests/oracles/time_to_hire.py counts application_journeys rows by the same rules.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

journeys as (
    select *
    from filtered_journeys($start_date::date, $end_date::date, $roles::varchar[], $cohorts::varchar[])
),

-- One row per application, as calendar dates. A stage counts as reached by the earliest of its
-- own and every later stage's time (hired without a recorded 'selected' event was selected no
-- later than hired): a running minimum from hired backwards. least() skips nulls.
effective as (
    select
        track,
        role,
        applied_at::date as applied_on,
        cohort_starts_on,
        as_of::date as as_of_on,
        -- application_journeys' outcome: rejected or withdrew (not hired) end the application
        reached_hired_at is null
        and (rejected_at is not null or withdrew_at is not null)
            as terminal,
        least(rejected_at, withdrew_at)::date as terminal_on,
        -- each stage's date is the earlier of its own and the next stage's (DuckDB lets a
        -- select list use the aliases defined before it)
        reached_hired_at::date as hired_on,
        least(reached_retainer_at::date, hired_on) as retainer_on,
        least(reached_extension_at::date, retainer_on) as extension_on,
        least(reached_take_home_passed_at::date, extension_on) as take_home_passed_on,
        least(reached_rubric_passed_at::date, take_home_passed_on) as rubric_passed_on,
        least(reached_triage_passed_at::date, rubric_passed_on) as triage_passed_on,
        least(reached_submitted_at::date, triage_passed_on) as submitted_on,
        least(reached_selected_at::date, submitted_on) as selected_on,
        -- applied is reached by everyone: its event, or the application's own timestamp
        least(reached_applied_at::date, selected_on) as applied_stage_on
    from journeys
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
