-- grain: one row per scored application (a deliverable) of the filtered applications
-- title: Assessor units
-- description: The deliverables the Assessors analyses run on, numbered 0..n-1 in application-id order (the unit code), with the application's row id in the warehouse (app_row: how assessor_score_codes and assessor_group_codes refer to it) and the position of the cohort's rubric version in $rubrics (-1 when the application has no cohort or rubric).
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)
-- param: rubrics text[] = null | rubric versions in the order the codes use (null: no rubric codes)

with

-- rowid: an integer key of the application that the coded score and group rows carry instead
-- of the 22-character application id (a join of every score to this numbering on the text id
-- would hash the text ids of all scores)
applications as (
    select *, rowid::integer as app_row from applications
),

scores as (
    select * from scores
),

cohorts as (
    select * from cohorts
),

scored as (
    select distinct application_id from scores where score is not null
),

final as (
    select
        applications.app_row,
        applications.application_id,
        (coalesce(list_position($rubrics::varchar[], cohorts.rubric_version), 0) - 1)::integer
            as rubric,
        (row_number() over (order by applications.application_id) - 1)::integer as unit,
    from applications
    semi join scored on scored.application_id = applications.application_id
    left join cohorts on cohorts.cohort_id = applications.cohort_id
    where ($start_date::date is null or applications.applied_at >= $start_date::date)
      and ($end_date::date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles::varchar[] is null or list_contains($roles::varchar[], applications.role))
      and (
          $cohorts::varchar[] is null
          or list_contains($cohorts::varchar[], applications.cohort_id)
      )
)

select * from final
order by unit
