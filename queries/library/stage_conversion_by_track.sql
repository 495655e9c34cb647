-- grain: one row per track, role and funnel stage
-- title: Stage conversion by track and role
-- description: Micro-internship against traditional hiring, per role: applications that reached each stage, the share of all the track's applications for the role, and the conversion from the stage before.
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

furthest as (
    select
        filtered.application_id,
        filtered.track,
        filtered.role,
        coalesce(max(stages.stage_index), 0) as furthest_stage_index,
    from filtered
    left join stage_events on stage_events.application_id = filtered.application_id
    left join stages on stages.stage = stage_events.event
    group by filtered.application_id, filtered.track, filtered.role
),

counts as (
    select
        furthest.track,
        furthest.role,
        stages.stage_index,
        stages.stage,
        count(*) filter (where furthest.furthest_stage_index >= stages.stage_index) as reached,
    from furthest
    cross join stages
    group by furthest.track, furthest.role, stages.stage_index, stages.stage
),

final as (
    select
        track,
        role,
        stage_index,
        stage,
        reached,
        reached / nullif(first_value(reached) over by_stage, 0) as share_of_applications,
        reached / nullif(lag(reached) over by_stage, 0) as conversion_from_previous,
    from counts
    window by_stage as (partition by track, role order by stage_index)
)

select * from final
order by track, role, stage_index
