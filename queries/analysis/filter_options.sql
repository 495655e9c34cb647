-- grain: one row per filter choice (kind, value)
-- title: Filter options
-- description: The roles and cohorts the dashboard's global filters offer, with their application counts.

with

applications as (
    select * from applications
),

roles as (
    select 'role' as kind, role as value, count(*) as applications
    from applications
    group by role
),

cohorts as (
    select 'cohort' as kind, cohort_id as value, count(*) as applications
    from applications
    where cohort_id is not null
    group by cohort_id
),

final as (
    select * from roles
    union all
    select * from cohorts
)

select * from final
order by kind, value
