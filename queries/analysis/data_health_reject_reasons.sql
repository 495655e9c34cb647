-- grain: one row per load, file, column and reason
-- title: Rejected rows by reason
-- description: How many rows each load kept out of the warehouse, by file, column and reason, most frequent first. A row with several problems counts once per problem.
-- param: file_names text[] = null | only these files (null: all)
-- param: reasons text[] = null | only these reasons (null: all)

with

rejects as (
    select * from rejects
),

filtered as (
    select *
    from rejects
    where ($file_names is null or list_contains($file_names, file_name))
      and ($reasons is null or list_contains($reasons, reason))
),

final as (
    select
        load_id,
        file_name,
        table_name,
        coalesce(column_name, '(whole row)') as column_name,
        reason,
        count(*) as rejected_rows,
        min(line) as first_line,
    from filtered
    group by all
)

select * from final
order by load_id desc, rejected_rows desc, file_name, column_name, reason
