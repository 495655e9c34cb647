-- grain: one row per application
-- title: Application journeys
-- description: Every application with the first time it reached each stage, the furthest stage it reached, and its outcome (hired, rejected, withdrew, or in progress as of the warehouse's as-of). The base of the funnel, time-to-hire and fairness analyses. Reads the application_journeys table the load derives after every load (docs/warehouse.md).
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

journeys as (
    select *
    from filtered_journeys($start_date::date, $end_date::date, $roles::varchar[], $cohorts::varchar[])
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
        metro,
        applied_at,
        cohort_starts_on,
        cohort_ends_on,
        reached_applied_at,
        reached_selected_at,
        reached_submitted_at,
        reached_triage_passed_at,
        reached_rubric_passed_at,
        reached_take_home_passed_at,
        reached_extension_at,
        reached_retainer_at,
        reached_hired_at,
        rejected_at,
        withdrew_at,
        as_of,
        furthest_stage_index,
        outcome,
        outcome_at,
    from journeys
)

select * from final
order by application_id
