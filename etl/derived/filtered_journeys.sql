-- grain: one row per application
-- title: The global filter, once
-- description: filtered_journeys(start_date, end_date, roles, cohorts) is the application_journeys table restricted by the dashboard's global filters; a null argument is no restriction. Every query of a section starts from it, so the filter is spelled in this one place. Callers cast their parameters (`$start_date::date`, `$roles::varchar[]`): a null parameter has no type of its own, and DuckDB cannot pick an overload for it.

create or replace macro filtered_journeys(start_date, end_date, roles, cohorts) as table
    select application_journeys.*
    from application_journeys
    where (start_date is null or application_journeys.applied_at >= start_date)
      and (end_date is null or application_journeys.applied_at < end_date + interval 1 day)
      and (roles is null or list_contains(roles, application_journeys.role))
      and (cohorts is null or list_contains(cohorts, application_journeys.cohort_id));
