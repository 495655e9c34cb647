-- grain: one row per cohort
-- title: Cohort comparison
-- description: Micro-internship cohorts side by side: role, brief and dates, applications, how many were selected, submitted, passed the rubric and were hired, the hire rate, the mean rubric score (all graders), the median stipend in US dollars (latest rate in fx_rates), the median hours logged against the brief's estimate, and how many are still in progress.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

applications as (
    select * from applications
),

cohorts as (
    select * from cohorts
),

stage_events as (
    select * from stage_events
),

scores as (
    select * from scores
),

fx_rates as (
    select * from fx_rates
),

latest_fx as (
    select currency, arg_max(usd_per_unit, as_of) as usd_per_unit,
    from fx_rates
    group by currency
),

filtered as (
    select applications.*
    from applications
    where ($start_date is null or applications.applied_at >= $start_date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
      and applications.cohort_id is not null
),

-- one row per application: which events it has
events as (
    select
        application_id,
        bool_or(event in ('selected', 'submitted', 'triage_passed', 'rubric_passed',
            'take_home_passed', 'extension', 'retainer', 'hired')) as selected,
        bool_or(event in ('submitted', 'triage_passed', 'rubric_passed', 'take_home_passed',
            'extension', 'retainer', 'hired')) as submitted,
        bool_or(event in ('rubric_passed', 'take_home_passed', 'extension', 'retainer', 'hired'))
            as rubric_passed,
        bool_or(event = 'hired') as hired,
        bool_or(event in ('hired', 'rejected', 'withdrew')) as finished,
    from stage_events
    group by application_id
),

application_scores as (
    select application_id, avg(score) as mean_score,
    from scores
    group by application_id
),

per_cohort as (
    select
        filtered.cohort_id,
        count(*) as applications,
        count(*) filter (where events.selected) as selected,
        count(*) filter (where events.submitted) as submitted,
        count(*) filter (where events.rubric_passed) as rubric_passed,
        count(*) filter (where events.hired) as hired,
        count(*) filter (where not coalesce(events.finished, false)) as in_progress,
        avg(application_scores.mean_score) as mean_rubric_score,
        count(filtered.stipend_amount) as stipends,
        median(filtered.stipend_amount * latest_fx.usd_per_unit) as median_stipend_usd,
        median(filtered.hours_logged) as median_hours_logged,
    from filtered
    left join events on events.application_id = filtered.application_id
    left join application_scores on application_scores.application_id = filtered.application_id
    left join latest_fx on latest_fx.currency = filtered.stipend_currency
    group by filtered.cohort_id
),

final as (
    select
        cohorts.cohort_id,
        cohorts.role,
        cohorts.brief_title,
        cohorts.starts_on,
        cohorts.ends_on,
        cohorts.rubric_version,
        per_cohort.applications,
        per_cohort.selected,
        per_cohort.submitted,
        per_cohort.rubric_passed,
        per_cohort.hired,
        per_cohort.in_progress,
        per_cohort.hired / nullif(per_cohort.applications, 0) as hire_rate,
        per_cohort.hired / nullif(per_cohort.submitted, 0) as hire_rate_of_submitted,
        per_cohort.mean_rubric_score,
        per_cohort.stipends,
        per_cohort.median_stipend_usd,
        cohorts.estimated_hours,
        per_cohort.median_hours_logged,
    from per_cohort
    inner join cohorts on cohorts.cohort_id = per_cohort.cohort_id
)

select * from final
order by starts_on, cohort_id
