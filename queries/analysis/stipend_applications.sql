-- grain: one row per application with a stipend
-- title: Stipends in US dollars, real and per hour
-- description: Every application with a stipend amount: the stipend in US dollars at the market rate (fx_rates, the latest rate on or before the cohort's start, else the earliest after), the price level of the most specific place that has one (metro CBSA, then region, then country; the latest vintage of that place) with its source and vintage, the real stipend (usd / (price_level / 100); blank without a price level), and the effective hourly pay per estimated hour and per hour logged.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)
-- param: vintage text = null | use only price levels of this vintage (null: the latest vintage of each place)

with

applications as (
    select * from applications
),

cohorts as (
    select * from cohorts
),

cost_of_living as (
    select * from cost_of_living
),

fx_rates as (
    select * from fx_rates
),

paid as (
    select
        applications.application_id,
        applications.candidate_id,
        applications.cohort_id,
        applications.role,
        applications.applied_at,
        applications.country,
        applications.region,
        applications.metro,
        applications.stipend_amount,
        upper(applications.stipend_currency) as stipend_currency,
        applications.hours_logged,
        cohorts.estimated_hours,
        cohorts.starts_on as cohort_starts_on,
        datediff('day', cohorts.starts_on, cohorts.ends_on) + 1 as cohort_length_days,
        -- the day the stipend's currency is converted on: the cohort's start, else the application
        coalesce(cohorts.starts_on, cast(applications.applied_at as date)) as paid_on
    from applications
    left join cohorts on cohorts.cohort_id = applications.cohort_id
    where applications.stipend_amount is not null
      and ($start_date is null or applications.applied_at >= cast($start_date as date))
      and ($end_date is null or applications.applied_at < cast($end_date as date) + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
),

-- The rate and the price level depend only on (currency, day paid) and on the place: resolve
-- them once per distinct key and join back, instead of a window over every application (at a
-- million applications the per-application windows took seconds; the keys number a few dozen).
paydays as (
    select distinct stipend_currency, paid_on from paid
),

places as (
    select distinct country, region, metro from paid
),

-- market rate: the latest on or before the day paid; if the table starts later, its first rate
fx_candidates as (
    select
        paydays.stipend_currency,
        paydays.paid_on,
        fx_rates.usd_per_unit,
        fx_rates.as_of as fx_as_of,
        case when fx_rates.as_of <= paydays.paid_on then 0 else 1 end as after_paid,
        abs(datediff('day', fx_rates.as_of, paydays.paid_on)) as distance_days
    from paydays
    inner join fx_rates on upper(fx_rates.currency) = paydays.stipend_currency
),

fx as (
    select stipend_currency, paid_on, usd_per_unit, fx_as_of
    from fx_candidates
    qualify row_number() over (
        partition by stipend_currency, paid_on order by after_paid, distance_days, fx_as_of
    ) = 1
),

-- most specific place with a price level: metro (CBSA code), then region, then the country
col_candidates as (
    select
        places.country,
        places.region,
        places.metro,
        case
            when cost_of_living.region is null then 'country'
            when cost_of_living.region = places.metro then 'metro'
            else 'region'
        end as col_match,
        case
            when cost_of_living.region is null then 3
            when cost_of_living.region = places.metro then 1
            else 2
        end as specificity,
        coalesce(cost_of_living.region, cost_of_living.country) as col_place,
        cost_of_living.price_level,
        cost_of_living.source as col_source,
        cost_of_living.vintage as col_vintage
    from places
    inner join cost_of_living
        on upper(cost_of_living.country) = upper(places.country)
        and (
            cost_of_living.region is null
            or cost_of_living.region = places.metro
            or upper(cost_of_living.region) = upper(places.region)
        )
    where cost_of_living.price_level > 0
      and ($vintage is null or cost_of_living.vintage = $vintage)
),

col as (
    select *
    from col_candidates
    qualify row_number() over (
        partition by country, region, metro order by specificity, col_vintage desc, col_source
    ) = 1
),

joined as (
    select
        paid.*,
        case when paid.stipend_currency = 'USD' then 1.0 else fx.usd_per_unit end as usd_per_unit,
        fx.fx_as_of,
        col.col_match,
        col.col_place,
        col.price_level,
        col.col_source,
        col.col_vintage
    from paid
    left join fx
        on fx.stipend_currency = paid.stipend_currency
        and fx.paid_on is not distinct from paid.paid_on
    left join col
        on col.country is not distinct from paid.country
        and col.region is not distinct from paid.region
        and col.metro is not distinct from paid.metro
),

final as (
    select
        application_id,
        candidate_id,
        cohort_id,
        role,
        applied_at,
        country,
        region,
        metro,
        stipend_amount,
        stipend_currency,
        usd_per_unit,
        fx_as_of,
        estimated_hours,
        cohort_length_days,
        hours_logged,
        col_match,
        col_place,
        price_level,
        col_source,
        col_vintage,
        -- pay
        stipend_amount * usd_per_unit as stipend_usd,
        stipend_amount * usd_per_unit / (price_level / 100.0) as real_stipend_usd,
        stipend_amount * usd_per_unit / nullif(estimated_hours, 0) as hourly_usd,
        stipend_amount * usd_per_unit / nullif(hours_logged, 0) as hourly_logged_usd,
        stipend_amount * usd_per_unit / (price_level / 100.0) / nullif(estimated_hours, 0)
            as real_hourly_usd
    from joined
)

select * from final
order by application_id
