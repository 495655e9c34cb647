-- grain: one row per scored application and self-ID attribute the candidate answered
-- title: Assessor group codes
-- description: Each deliverable's self-identification in integers: the application's row id (app_row, as in assessor_units, which maps it to the deliverable's unit code) and label_hash = hash(attribute, value), which the caller maps to its list of labels (it reads the same hash of every distinct (attribute, value) pair). Used only inside the Assessors analyses, which publish suppressed aggregates.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

-- rowid as in assessor_units (the integer key the unit codes are looked up by)
applications as (
    select *, rowid::integer as app_row from applications
),

scores as (
    select * from scores
),

demographic_attributes as (
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

-- A hash of the label, not its codes: ranking the labels here would take a second pass over
-- every self-ID row and a join to them.
-- The caller hashes its ~24 labels with the same function and checks they do not collide.
final as (
    select
        units.app_row,
        hash(demographic_attributes.attribute, demographic_attributes.value) as label_hash,
    from units
    inner join demographic_attributes
        on demographic_attributes.candidate_id = units.candidate_id
)

select * from final
