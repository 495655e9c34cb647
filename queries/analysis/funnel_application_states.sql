-- grain: one row per application
-- title: Funnel application states
-- description: Each application's breakdown dimensions, entry cohort, furthest stage, and whether it is pending: in progress inside the conversion window of the step after its furthest stage (windows in days per track and step; null = the cohort's length, counted from the later of reaching the stage and the cohort's first day, 14 days without a cohort). The funnel aggregates this in SQL into counts per segment and stage instead of fetching a row per application; dashboard/analysis/funnel.py documents the definitions.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)
-- param: micro_selected_days number = 14 | micro-internship window of the step to selected
-- param: micro_submitted_days number = null | micro-internship window of the step to submitted (null: the cohort's length)
-- param: micro_triage_passed_days number = 14 | micro-internship window of the step to triage_passed
-- param: micro_rubric_passed_days number = 14 | micro-internship window of the step to rubric_passed
-- param: micro_take_home_passed_days number = 14 | micro-internship window of the step to take_home_passed
-- param: micro_extension_days number = 30 | micro-internship window of the step to extension
-- param: micro_retainer_days number = 90 | micro-internship window of the step to retainer
-- param: micro_hired_days number = 90 | micro-internship window of the step to hired
-- param: traditional_selected_days number = 60 | traditional window of the step to selected
-- param: traditional_submitted_days number = 90 | traditional window of the step to submitted
-- param: traditional_triage_passed_days number = 90 | traditional window of the step to triage_passed
-- param: traditional_rubric_passed_days number = 90 | traditional window of the step to rubric_passed
-- param: traditional_take_home_passed_days number = 90 | traditional window of the step to take_home_passed
-- param: traditional_extension_days number = 180 | traditional window of the step to extension
-- param: traditional_retainer_days number = 180 | traditional window of the step to retainer
-- param: traditional_hired_days number = 180 | traditional window of the step to hired

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

-- funnel position of each event; rejected and withdrew end an application without a stage.
-- Every application's events, summarized by id and then joined to the filtered applications:
-- at a million applications that was 20% less CPU than joining the 3.3M events to the filtered
-- applications first and grouping by row number (0.60 -> 0.47 s, A/B interleaved).
indexed_events as (
    select
        stage_events.application_id,
        stage_events.occurred_at,
        case stage_events.event
            when 'applied' then 0
            when 'selected' then 1
            when 'submitted' then 2
            when 'triage_passed' then 3
            when 'rubric_passed' then 4
            when 'take_home_passed' then 5
            when 'extension' then 6
            when 'retainer' then 7
            when 'hired' then 8
        end as stage_index,
        stage_events.event,
        stage_events.event in ('hired', 'rejected', 'withdrew') as is_outcome,
    from stage_events
),

-- per application: the furthest stage with an event and when it was first reached, as one
-- integer (8 - stage) * 1e17 + epoch microseconds whose minimum is the furthest stage's first
-- time (one integer aggregate instead of a struct: the group by is the query's cost), and
-- whether the application has an outcome (hired, rejected, withdrew)
events_summary as (
    select
        application_id,
        min((8 - stage_index) * 100000000000000000 + epoch_us(occurred_at)) as furthest_key,
        bool_or(is_outcome) as has_outcome,
        -- for drill-through rows only (unused columns are not computed)
        min(occurred_at) filter (where event = 'hired') as hired_at,
        min(occurred_at) filter (where event = 'rejected') as rejected_at,
        min(occurred_at) filter (where event = 'withdrew') as withdrew_at,
    from indexed_events
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
        filtered.applied_at,
        cohorts.starts_on as cohort_starts_on,
        cohorts.ends_on as cohort_ends_on,
        -- no stage event at all: applied (when the application says), as in application_journeys
        coalesce(8 - events_summary.furthest_key // 100000000000000000, 0) as furthest_stage_index,
        coalesce(
            make_timestamp(events_summary.furthest_key % 100000000000000000),
            filtered.applied_at
        ) as furthest_reached_at,
        not coalesce(events_summary.has_outcome, false) as in_progress,
        -- application_journeys' outcome and outcome_at
        case
            when events_summary.hired_at is not null then 'hired'
            when
                events_summary.rejected_at is not null
                and (
                    events_summary.withdrew_at is null
                    or events_summary.rejected_at <= events_summary.withdrew_at
                )
                then 'rejected'
            when events_summary.withdrew_at is not null then 'withdrew'
            else 'in_progress'
        end as outcome,
        coalesce(
            events_summary.hired_at, least(events_summary.rejected_at, events_summary.withdrew_at)
        ) as outcome_at,
        as_of.as_of,
    from filtered
    left join events_summary on events_summary.application_id = filtered.application_id
    left join cohorts on cohorts.cohort_id = filtered.cohort_id
    cross join as_of
),

-- the window of the step after the furthest stage (null: the cohort's length)
windowed as (
    select
        *,
        case
            when track = 'traditional' then [
                $traditional_selected_days::double,
                $traditional_submitted_days::double,
                $traditional_triage_passed_days::double,
                $traditional_rubric_passed_days::double,
                $traditional_take_home_passed_days::double,
                $traditional_extension_days::double,
                $traditional_retainer_days::double,
                $traditional_hired_days::double,
            ][furthest_stage_index + 1]
            else [
                $micro_selected_days::double,
                $micro_submitted_days::double,
                $micro_triage_passed_days::double,
                $micro_rubric_passed_days::double,
                $micro_take_home_passed_days::double,
                $micro_extension_days::double,
                $micro_retainer_days::double,
                $micro_hired_days::double,
            ][furthest_stage_index + 1]
        end as window_days,
        case
            when track = 'traditional' then [
                $traditional_selected_days::double,
                $traditional_submitted_days::double,
                $traditional_triage_passed_days::double,
                $traditional_rubric_passed_days::double,
                $traditional_take_home_passed_days::double,
                $traditional_extension_days::double,
                $traditional_retainer_days::double,
                $traditional_hired_days::double,
            ][furthest_stage_index + 1] is null
            else [
                $micro_selected_days::double,
                $micro_submitted_days::double,
                $micro_triage_passed_days::double,
                $micro_rubric_passed_days::double,
                $micro_take_home_passed_days::double,
                $micro_extension_days::double,
                $micro_retainer_days::double,
                $micro_hired_days::double,
            ][furthest_stage_index + 1] is null
        end as cohort_length_window,
    from joined
),

closing as (
    select
        *,
        case
            when furthest_stage_index >= 8 then null
            when cohort_length_window then
                greatest(furthest_reached_at, cohort_starts_on::timestamp)
                + to_microseconds(
                    (
                        coalesce(datediff('day', cohort_starts_on, cohort_ends_on) + 1, 14)
                        * 86400000000
                    )::bigint
                )
            else furthest_reached_at + to_microseconds((window_days * 86400000000)::bigint)
        end as window_closes_at,
    from windowed
),

final as (
    select
        application_id,
        candidate_id,
        track,
        cohort_id,
        role,
        source,
        country,
        region,
        applied_at,
        -- entry cohort: the micro-internship cohort, else the track and application month
        case
            when cohort_id is not null and cohort_starts_on is not null then cohort_id
            else track || ' ' || strftime(applied_at, '%Y-%m')
        end as entry_cohort,
        case
            when cohort_id is not null and cohort_starts_on is not null
                then cohort_starts_on::timestamp
            else date_trunc('month', applied_at)::timestamp
        end as cohort_start,
        furthest_stage_index,
        [
            'applied', 'selected', 'submitted', 'triage_passed', 'rubric_passed',
            'take_home_passed', 'extension', 'retainer', 'hired'
        ][furthest_stage_index + 1] as furthest_stage,
        outcome,
        outcome_at,
        in_progress,
        coalesce(in_progress and as_of < window_closes_at, false) as pending,
    from closing
)

select * from final
