-- grain: one row per load
-- title: Loads log
-- description: Every load that landed in the warehouse, newest first: when it ran, the as-of time of its exports, how many files and rows it read, loaded and rejected. A load that failed never lands, so it is not listed.

with

loads as (
    select * from loads
),

final as (
    select
        load_id,
        as_of,
        started_at,
        finished_at,
        -- duration of the load itself, in seconds
        round(epoch(finished_at) - epoch(started_at), 3) as duration_seconds,
        files,
        rows_read,
        rows_loaded,
        rows_rejected,
        strict,
        mapping,
        signalboard_version,
    from loads
)

select * from final
order by load_id desc
