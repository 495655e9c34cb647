-- grain: one row per scored application and self-ID attribute the candidate answered
-- title: Assessor group codes
-- description: Each deliverable's self-identification as integer codes: the application's row id (app_row, as in assessor_units, which maps it to the deliverable's unit code), the attribute's position in $attributes and the value's rank among that attribute's distinct values. Used only inside the Assessors analyses, which publish suppressed aggregates.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)
-- param: attributes text[] = null | attributes in the order the codes use

with

-- rowid as in assessor_units (the integer key the unit codes are looked up by)
applications as (
    select *, rowid as app_row from applications
),

scores as (
    select * from scores
),

-- read twice (answers and labels): not materialized, so each read is a plain scan instead of
-- DuckDB buffering all 4.65M rows for the second reader (issue 7: ~0.3 s CPU at 1M)
demographic_attributes as not materialized (
    select * from demographic_attributes
),

scored as (
    select distinct application_id from scores where score is not null
),

units as (
    select
        applications.app_row,
        applications.candidate_id,
    from applications
    semi join scored on scored.application_id = applications.application_id
    where ($start_date::date is null or applications.applied_at >= $start_date::date)
      and ($end_date::date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles::varchar[] is null or list_contains($roles::varchar[], applications.role))
      and (
          $cohorts::varchar[] is null
          or list_contains($cohorts::varchar[], applications.cohort_id)
      )
),

labels as (
    select
        attribute,
        value,
        (row_number() over (partition by attribute order by value) - 1)::integer as code,
    from (select distinct attribute, value from demographic_attributes)
),

final as (
    select
        units.app_row,
        (coalesce(list_position($attributes::varchar[], labels.attribute), 0) - 1)::integer
            as attribute,
        labels.code,
    from units
    inner join demographic_attributes
        on demographic_attributes.candidate_id = units.candidate_id
    inner join labels
        on labels.attribute = demographic_attributes.attribute
        and labels.value = demographic_attributes.value
)

select * from final
