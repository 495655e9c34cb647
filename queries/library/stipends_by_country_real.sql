-- grain: one row per applicant country
-- title: Stipends by country in real terms
-- description: Stipends of applications that have one, per country: converted to US dollars at each currency's latest rate in fx_rates, then to real terms (US average prices) by dividing by the country's price level / 100 from cost_of_living (whole-country rows, latest vintage), and per estimated hour of the cohort's brief. Counts of stipends that could not be converted say where reference data is missing.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)
-- param: price_source text = null | only price levels from this source, e.g. 'World Bank PLI' (null: any source, latest vintage)

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

cost_of_living as (
    select * from cost_of_living
),

filtered as (
    select applications.*
    from applications
    where ($start_date is null or applications.applied_at >= $start_date)
      and ($end_date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles is null or list_contains($roles, applications.role))
      and ($cohorts is null or list_contains($cohorts, applications.cohort_id))
      and applications.stipend_amount is not null
),

latest_fx as (
    select currency, arg_max(usd_per_unit, as_of) as usd_per_unit, max(as_of) as fx_as_of,
    from fx_rates
    group by currency
),

-- whole-country price levels (a blank region is the country), the latest vintage per country
country_prices as (
    select
        country,
        arg_max(price_level, vintage) as price_level,
        arg_max(source, vintage) as price_source,
        max(vintage) as price_vintage,
    from cost_of_living
    where coalesce(region, '') = ''
      and ($price_source is null or source = $price_source)
    group by country
),

converted as (
    select
        filtered.country,
        filtered.stipend_currency,
        filtered.stipend_amount * latest_fx.usd_per_unit as stipend_usd,
        country_prices.price_level,
        country_prices.price_source,
        country_prices.price_vintage,
        cohorts.estimated_hours,
    from filtered
    left join latest_fx on latest_fx.currency = filtered.stipend_currency
    left join country_prices on country_prices.country = filtered.country
    left join cohorts on cohorts.cohort_id = filtered.cohort_id
),

final as (
    select
        country,
        count(*) as stipends,
        string_agg(distinct stipend_currency, ', ' order by stipend_currency) as currencies,
        median(stipend_usd) as median_stipend_usd,
        any_value(price_level) as price_level,
        any_value(price_source) as price_source,
        any_value(price_vintage) as price_vintage,
        median(stipend_usd * 100.0 / price_level) as median_real_stipend_usd,
        median(stipend_usd / nullif(estimated_hours, 0)) as median_usd_per_estimated_hour,
        median(stipend_usd * 100.0 / price_level / nullif(estimated_hours, 0))
            as median_real_usd_per_estimated_hour,
        count(*) filter (where stipend_usd is null) as without_fx_rate,
        count(*) filter (where price_level is null) as without_price_level,
    from converted
    group by country
)

select * from final
order by stipends desc, country
