-- grain: one row per cohort
-- title: Hours logged against the brief's estimate
-- description: For each cohort, among applications with hours logged: the brief's estimated hours, median and 90th-percentile hours logged, the share who logged more than the estimate, and the median stipend per hour actually logged in US dollars (latest rate in fx_rates), with how many fall below the pay floor per hour.
-- param: pay_floor_per_hour number = 20 | pay floor in US dollars per hour logged
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
      and applications.hours_logged > 0
),

logged as (
    select
        filtered.cohort_id,
        filtered.hours_logged,
        filtered.stipend_amount * latest_fx.usd_per_unit / filtered.hours_logged
            as usd_per_hour_logged,
    from filtered
    left join latest_fx on latest_fx.currency = filtered.stipend_currency
),

final as (
    select
        cohorts.cohort_id,
        cohorts.role,
        cohorts.estimated_hours,
        count(*) as applications_with_hours,
        median(logged.hours_logged) as median_hours_logged,
        quantile_cont(logged.hours_logged, 0.9) as p90_hours_logged,
        avg(case when logged.hours_logged > cohorts.estimated_hours then 1.0 else 0.0 end)
            as share_over_estimate,
        median(logged.usd_per_hour_logged) as median_usd_per_hour_logged,
        count(*) filter (where logged.usd_per_hour_logged < $pay_floor_per_hour)
            as below_pay_floor,
    from logged
    inner join cohorts on cohorts.cohort_id = logged.cohort_id
    group by cohorts.cohort_id, cohorts.role, cohorts.estimated_hours
)

select * from final
order by cohort_id
