-- grain: one row per furthest stage reached
-- title: Outcomes by furthest stage
-- description: Where applications end: for each stage as the furthest one reached, how many applications were rejected there, withdrew there, are still in progress there, or were hired (only at 'hired'), with the share of all applications ending at that stage.
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
        coalesce(max(stages.stage_index), 0) as furthest_stage_index,
        min(stage_events.occurred_at) filter (where stage_events.event = 'rejected') as rejected_at,
        min(stage_events.occurred_at) filter (where stage_events.event = 'withdrew') as withdrew_at,
    from filtered
    left join stage_events on stage_events.application_id = filtered.application_id
    left join stages on stages.stage = stage_events.event
    group by filtered.application_id
),

-- the same outcome rule as application_journeys.sql: hired wins, then the earlier of the two
outcomes as (
    select
        furthest_stage_index,
        case
            when furthest_stage_index = 8 then 'hired'
            when rejected_at is not null and (withdrew_at is null or rejected_at <= withdrew_at)
                then 'rejected'
            when withdrew_at is not null then 'withdrew'
            else 'in_progress'
        end as outcome,
    from per_application
),

final as (
    select
        stages.stage_index,
        stages.stage as furthest_stage,
        count(outcomes.outcome) as applications,
        count(*) filter (where outcomes.outcome = 'rejected') as rejected,
        count(*) filter (where outcomes.outcome = 'withdrew') as withdrew,
        count(*) filter (where outcomes.outcome = 'in_progress') as in_progress,
        count(*) filter (where outcomes.outcome = 'hired') as hired,
        count(outcomes.outcome) / nullif(sum(count(outcomes.outcome)) over (), 0)
            as share_of_applications,
    from stages
    left join outcomes on outcomes.furthest_stage_index = stages.stage_index
    group by stages.stage_index, stages.stage
)

select * from final
order by stage_index
