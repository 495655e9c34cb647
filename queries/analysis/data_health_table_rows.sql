-- grain: one row per warehouse table
-- title: Warehouse row counts
-- description: Rows in every warehouse table (the data contract's tables, the derived tables and the load's bookkeeping), with what the latest load that touched the table read, loaded, rejected and replaced for it.

with

cohorts as (
    select * from cohorts
),

rubrics as (
    select * from rubrics
),

applications as (
    select * from applications
),

demographics as (
    select * from demographics
),

demographic_attributes as (
    select * from demographic_attributes
),

scores as (
    select * from scores
),

stage_events as (
    select * from stage_events
),

cost_of_living as (
    select * from cost_of_living
),

fx_rates as (
    select * from fx_rates
),

application_journeys as (
    select * from application_journeys
),

loads as (
    select * from loads
),

load_files as (
    select * from load_files
),

rejects as (
    select * from rejects
),

-- the list is spelled out because table names cannot be bound; a test checks it covers the schema
counts as (
    select 1 as position, 'cohorts' as table_name, 'contract' as kind, count(*) as rows_in_warehouse from cohorts
    union all select 2, 'rubrics', 'contract', count(*) from rubrics
    union all select 3, 'applications', 'contract', count(*) from applications
    union all select 4, 'demographics', 'contract', count(*) from demographics
    union all select 5, 'scores', 'contract', count(*) from scores
    union all select 6, 'stage_events', 'contract', count(*) from stage_events
    union all select 7, 'cost_of_living', 'contract', count(*) from cost_of_living
    union all select 8, 'fx_rates', 'contract', count(*) from fx_rates
    union all select 9, 'demographic_attributes', 'derived', count(*) from demographic_attributes
    union all select 10, 'application_journeys', 'derived', count(*) from application_journeys
    union all select 11, 'loads', 'bookkeeping', count(*) from loads
    union all select 12, 'load_files', 'bookkeeping', count(*) from load_files
    union all select 13, 'rejects', 'bookkeeping', count(*) from rejects
),

-- the latest load that brought a file for each table
latest_load_per_table as (
    select
        table_name,
        max(load_id) as last_load_id,
    from load_files
    group by table_name
),

latest_file_stats as (
    select
        load_files.table_name,
        latest_load_per_table.last_load_id,
        count(*) as files_in_last_load,
        sum(load_files.rows_read)::bigint as rows_read,
        sum(load_files.rows_loaded)::bigint as rows_loaded,
        sum(load_files.rows_rejected)::bigint as rows_rejected,
        sum(load_files.rows_replaced)::bigint as rows_replaced,
    from load_files
    inner join latest_load_per_table
        on latest_load_per_table.table_name = load_files.table_name
        and latest_load_per_table.last_load_id = load_files.load_id
    group by load_files.table_name, latest_load_per_table.last_load_id
),

final as (
    select
        counts.table_name,
        counts.kind,
        counts.rows_in_warehouse,
        latest_file_stats.last_load_id,
        latest_file_stats.files_in_last_load,
        latest_file_stats.rows_read,
        latest_file_stats.rows_loaded,
        latest_file_stats.rows_rejected,
        latest_file_stats.rows_replaced,
        counts.position,
    from counts
    left join latest_file_stats on latest_file_stats.table_name = counts.table_name
)

select * exclude (position) from final
order by position
