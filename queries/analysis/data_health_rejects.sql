-- grain: one row per rejected row and problem
-- title: Rejected rows
-- description: The rows the loads kept out of the warehouse: file, line, column, reason and the original text as read, newest load first.
-- param: file_names text[] = null | only these files (null: all)
-- param: reasons text[] = null | only these reasons (null: all)
-- param: max_rows integer = 1000 | at most this many rows

with

rejects as (
    select * from rejects
),

final as (
    select
        load_id,
        file_name,
        table_name,
        line,
        column_name,
        reason,
        original_text,
    from rejects
    where ($file_names is null or list_contains($file_names, file_name))
      and ($reasons is null or list_contains($reasons, reason))
)

select * from final
order by load_id desc, file_name, line, column_name
limit $max_rows
