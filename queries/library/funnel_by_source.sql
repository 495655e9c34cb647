-- grain: one row per candidate source and funnel stage
-- title: Funnel by source
-- description: For each candidate source (blank source = 'unknown'), how many applications reached each hiring stage, the share of the source's applications that got that far, and the conversion from the stage before. An application that reached a stage passed every earlier one.
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

-- furthest stage per application (0 when it has no stage event beyond applying)
furthest as (
    select
        filtered.application_id,
        coalesce(filtered.source, 'unknown') as source,
        coalesce(max(stages.stage_index), 0) as furthest_stage_index,
    from filtered
    left join stage_events on stage_events.application_id = filtered.application_id
    left join stages on stages.stage = stage_events.event
    group by filtered.application_id, filtered.source
),

counts as (
    select
        furthest.source,
        stages.stage_index,
        stages.stage,
        count(*) filter (where furthest.furthest_stage_index >= stages.stage_index) as reached,
    from furthest
    cross join stages
    group by furthest.source, stages.stage_index, stages.stage
),

final as (
    select
        source,
        stage_index,
        stage,
        reached,
        reached / nullif(first_value(reached) over by_stage, 0) as share_of_applications,
        reached / nullif(lag(reached) over by_stage, 0) as conversion_from_previous,
    from counts
    window by_stage as (partition by source order by stage_index)
)

select * from final
order by source, stage_index
