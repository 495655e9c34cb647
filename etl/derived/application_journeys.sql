-- grain: one row per application
-- title: Application journeys (derived table)
-- description: Every application with the first time it reached each stage, the furthest stage it reached (its position, its first time and every reached stage as bits), and its outcome (hired, rejected, withdrew, or in progress as of the warehouse's as-of). The load rebuilds this table after every load that lands (etl.warehouse.build_derived), so the funnel, time-to-hire and fairness queries read one pivot instead of restating it; they select from it through filtered_journeys() (filtered_journeys.sql).
-- materialized: etl.warehouse.build_derived stores this query as the table application_journeys, in application_id order (DERIVED_ORDER)

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
        min(occurred_at) filter (where event = 'withdrew') as withdrew_at,
    from stage_events
    group by application_id
),

joined as (
    select
        applications.application_id,
        applications.candidate_id,
        applications.track,
        applications.cohort_id,
        applications.role,
        applications.source,
        applications.country,
        applications.region,
        applications.metro,
        applications.applied_at,
        cohorts.starts_on as cohort_starts_on,
        cohorts.ends_on as cohort_ends_on,
        -- no 'applied' event: the application's own timestamp
        coalesce(events_wide.applied_event_at, applications.applied_at) as reached_applied_at,
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
        as_of.as_of,
    from applications
    left join events_wide on events_wide.application_id = applications.application_id
    left join cohorts on cohorts.cohort_id = applications.cohort_id
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
        end as outcome_at,
        -- when the furthest stage was first reached
        coalesce(
            reached_hired_at,
            reached_retainer_at,
            reached_extension_at,
            reached_take_home_passed_at,
            reached_rubric_passed_at,
            reached_triage_passed_at,
            reached_submitted_at,
            reached_selected_at,
            reached_applied_at
        ) as furthest_reached_at,
        -- bit i set when stage i of etl.contract.STAGES was reached (i = 1..8; applied, stage
        -- 0, is reached by every application and has no bit)
        (
            case when reached_selected_at is not null then 2 else 0 end
            + case when reached_submitted_at is not null then 4 else 0 end
            + case when reached_triage_passed_at is not null then 8 else 0 end
            + case when reached_rubric_passed_at is not null then 16 else 0 end
            + case when reached_take_home_passed_at is not null then 32 else 0 end
            + case when reached_extension_at is not null then 64 else 0 end
            + case when reached_retainer_at is not null then 128 else 0 end
            + case when reached_hired_at is not null then 256 else 0 end
        )::integer as reached_mask,
    from joined
)

select * from final
