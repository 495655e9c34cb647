-- grain: one row per score (application, grader, rubric axis) of the filtered applications
-- title: Assessor score codes
-- description: Every non-null score as integer codes for the Assessors analyses: the application's row id (app_row, as in assessor_units, which maps it to the deliverable's unit code), the grader's and the axis's position in $graders and $axes (-1 when absent), whether the grader is human, the score, and the month it was given as months since 1970-01 (-1 when unknown).
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)
-- param: graders text[] = null | grader ids in the order the codes use
-- param: axes text[] = null | rubric axes in the order the codes use

with

-- rowid as in assessor_units (the integer key the unit codes are looked up by)
applications as (
    select *, rowid::integer as app_row from applications
),

scores as (
    select * from scores
),

final as (
    select
        applications.app_row,
        (coalesce(list_position($graders::varchar[], scores.grader_id), 0) - 1)::integer as grader,
        (coalesce(list_position($axes::varchar[], scores.axis), 0) - 1)::integer as axis,
        scores.grader_kind = 'human' as human,
        scores.score,
        coalesce((year(scores.scored_at) - 1970) * 12 + month(scores.scored_at) - 1, -1)::integer
            as month,
    from scores
    inner join applications on applications.application_id = scores.application_id
    where scores.score is not null
      and ($start_date::date is null or applications.applied_at >= $start_date::date)
      and ($end_date::date is null or applications.applied_at < $end_date::date + interval 1 day)
      and ($roles::varchar[] is null or list_contains($roles::varchar[], applications.role))
      and (
          $cohorts::varchar[] is null
          or list_contains($cohorts::varchar[], applications.cohort_id)
      )
)

select * from final
