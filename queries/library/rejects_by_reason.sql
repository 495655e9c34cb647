-- grain: one row per load, table, column and reject reason
-- title: Rejects by reason for one load
-- description: Rows the load refused, grouped by load, table, column and reason: how many, from how many files, the first and last line numbers, and one example of the original text, to fix at the source. Defaults to the latest load.
-- param: load_id integer = null | only this load (null: the latest load)
-- param: all_loads boolean = false | every load instead of one

with

rejects as (
    select * from rejects
),

loads as (
    select * from loads
),

chosen_loads as (
    select load_id, finished_at, as_of,
    from loads
    where $all_loads
       or load_id = coalesce($load_id, (select max(load_id) from loads))
),

final as (
    select
        rejects.load_id,
        chosen_loads.finished_at as loaded_at,
        rejects.table_name,
        rejects.column_name,
        rejects.reason,
        count(*) as rows_rejected,
        count(distinct rejects.file_name) as files,
        string_agg(distinct rejects.file_name, ', ' order by rejects.file_name) as file_names,
        min(rejects.line) as first_line,
        max(rejects.line) as last_line,
        any_value(rejects.original_text) as example_original_text,
    from rejects
    inner join chosen_loads on chosen_loads.load_id = rejects.load_id
    group by
        rejects.load_id,
        chosen_loads.finished_at,
        rejects.table_name,
        rejects.column_name,
        rejects.reason
)

select * from final
order by load_id desc, rows_rejected desc, table_name, column_name, reason
