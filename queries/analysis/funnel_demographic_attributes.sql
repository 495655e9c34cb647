-- grain: one row per application and self-identification attribute
-- title: Funnel demographic attributes
-- description: The self-ID value (sex, race_ethnicity and any further attribute) of each application's candidate, for demographic funnel breakdowns; a candidate without a value for an attribute counts as Unknown. Aggregate only: the funnel publishes these through small-cell suppression.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

demographic_attributes as (
    select * from demographic_attributes
),

filtered as (
    select
        application_id,
        candidate_id,
    from filtered_journeys($start_date::date, $end_date::date, $roles::varchar[], $cohorts::varchar[])
),

attributes as (
    select distinct attribute from demographic_attributes
),

final as (
    select
        filtered.application_id,
        attributes.attribute,
        coalesce(demographic_attributes.value, 'Unknown') as value,
    from filtered
    cross join attributes
    left join demographic_attributes
        on demographic_attributes.candidate_id = filtered.candidate_id
        and demographic_attributes.attribute = attributes.attribute
)

select * from final
order by application_id, attribute
