-- grain: one row per load and file
-- title: Files per load
-- description: Every file each load read, with its content hash (SHA-256), format, encoding, delimiter and the rows read, loaded, rejected and replaced (rows of an older export that a newer one superseded by key).
-- param: load_id integer = null | only this load (null: every load)

with

load_files as (
    select * from load_files
),

final as (
    select
        load_id,
        file_name,
        table_name,
        rows_read,
        rows_loaded,
        rows_rejected,
        rows_replaced,
        content_sha256,
        file_format,
        encoding,
        delimiter,
        file_path,
    from load_files
    where $load_id is null or load_id = $load_id
)

select * from final
order by load_id desc, file_name
