-- grain: one row per application
-- title: Funnel application states
-- description: Each application's breakdown dimensions, entry cohort, furthest stage, and whether it is pending: in progress inside the conversion window of the step after its furthest stage, or in a cohort still running at the as-of date (windows in days per track and step; null = the cohort's length, counted from the later of reaching the stage and the cohort's first day, 14 days without a cohort). The funnel aggregates this in SQL into counts per segment and stage instead of fetching a row per application; signalboard/analysis/funnel.py documents the definitions.
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

journeys as (
    select *
    from filtered_journeys($start_date::date, $end_date::date, $roles::varchar[], $cohorts::varchar[])
),

joined as (
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
        cohort_starts_on,
        cohort_ends_on,
        furthest_stage_index,
        furthest_reached_at,
        outcome = 'in_progress' as in_progress,
        outcome,
        outcome_at,
        as_of,
    from journeys
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
        -- pending: in progress inside the next step's window, or in a cohort still running at
        -- the as-of (before the end of its last day), which moves it on whatever the window says
        coalesce(
            in_progress
            and furthest_stage_index < 8
            and (
                as_of < window_closes_at
                or as_of < cohort_ends_on::timestamp + interval 1 day
            ),
            false
        ) as pending,
    from closing
)

select * from final
