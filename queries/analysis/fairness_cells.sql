-- grain: one row per track, set of stages reached, decision state, LLM score, attribute and group
-- title: Fairness audit cells
-- description: Applications counted by track, the funnel stages they reached (reached_mask: bit i set when stage i of etl.contract.STAGES was reached, i = 1..8), whether the decision is still open (undecided: in progress or withdrawn), the LLM triage score (mean of its axis scores as in ll144_llm_scores.sql; null when the LLM did not score it) and the group in every self-ID attribute, the "sex x race_ethnicity" intersection ("<race>|<sex>") included; no value or "Unknown" is Unknown. Every application is counted once per attribute. first_at and last_at span the application and LLM-scoring times of the scored applications of the row. The adverse-impact audit and the LL144 tables are sums over these rows, so a million applications reach Python as a few thousand rows. Reads the application_journeys derived table.
-- param: start_date date = null | applied on or after this day (null: no lower bound)
-- param: end_date date = null | applied on or before this day (null: no upper bound)
-- param: roles text[] = null | only these roles (null: all)
-- param: cohorts text[] = null | only these cohorts (null: all)

with

scores as (
    select * from scores
),

-- read twice below; not materialized, so DuckDB scans the table instead of copying it
demographic_attributes as not materialized (
    select * from demographic_attributes
),

filtered as (
    select
        application_id,
        candidate_id,
        track,
        applied_at,
        reached_mask,
        outcome,
    from filtered_journeys($start_date::date, $end_date::date, $roles::varchar[], $cohorts::varchar[])
),

llm_scores as (
    select
        application_id,
        avg(score) as llm_score,
        min(scored_at) as llm_scored_at,
    from scores
    where grader_kind = 'llm'
    group by application_id
),

journeys as (
    select
        filtered.candidate_id,
        filtered.track,
        filtered.reached_mask,
        filtered.outcome in ('in_progress', 'withdrew') as undecided,
        llm_scores.llm_score,
        case
            when llm_scores.llm_score is not null
                then least(filtered.applied_at, llm_scores.llm_scored_at)
        end as first_at,
        case
            when llm_scores.llm_score is not null
                then greatest(filtered.applied_at, llm_scores.llm_scored_at)
        end as last_at,
    from filtered
    left join llm_scores on llm_scores.application_id = filtered.application_id
),

-- every attribute's values numbered 1, 2, ... and given a bit field of its own, so that one
-- number per candidate holds all of their values: one aggregate over the long table instead of
-- one per attribute (grouping it by candidate is the slow part at a million applications)
value_codes as (
    select
        attribute,
        value,
        row_number() over (partition by attribute order by value) as code,
    from (select distinct attribute, value from demographic_attributes)
),

attributes as (
    select
        attribute,
        -- bits for the codes 1..n; 0 is no value (Unknown)
        length(bin(count(*))) as bits,
    from value_codes
    group by attribute
    union all
    -- sex and race/ethnicity are audited even when nobody gave one
    select
        attribute,
        1 as bits,
    from (select unnest(['sex', 'race_ethnicity']) as attribute)
    where attribute not in (select attribute from value_codes)
),

fields as (
    select
        attribute,
        bits,
        coalesce(
            sum(bits) over (order by attribute rows between unbounded preceding and 1 preceding),
            0
        ) as shift,
        sum(bits) over () as total_bits,
    from attributes
),

codes as (
    select
        value_codes.attribute,
        value_codes.value,
        value_codes.code::hugeint << fields.shift::integer as packed_code,
    from value_codes
    inner join fields on fields.attribute = value_codes.attribute
    -- a hugeint holds 127 bits; the caller falls back to reading the rows when this fails
    where fields.total_bits <= 127
        or error('fairness_cells: the self-ID attributes need more than 127 bits')
),

-- one number per candidate holding every attribute value in its bit field (the load stores at
-- most one value per candidate and attribute)
packed_values as (
    select
        demographic_attributes.candidate_id,
        bit_or(codes.packed_code) as packed,
    from demographic_attributes
    inner join codes
        on codes.attribute = demographic_attributes.attribute
        and codes.value = demographic_attributes.value
    group by demographic_attributes.candidate_id
),

compact as (
    select
        row_number() over () as cell,
        *,
    from (
        select
            journeys.track,
            journeys.reached_mask,
            journeys.undecided,
            journeys.llm_score,
            coalesce(packed_values.packed, 0::hugeint) as packed,
            count(*) as applications,
            min(journeys.first_at) as first_at,
            max(journeys.last_at) as last_at,
        from journeys
        left join packed_values on packed_values.candidate_id = journeys.candidate_id
        group by all
    )
),

unpacked as (
    select
        compact.cell,
        compact.track,
        compact.reached_mask,
        compact.undecided,
        compact.llm_score,
        fields.attribute,
        coalesce(codes.value, 'Unknown') as "group",
        compact.applications,
        compact.first_at,
        compact.last_at,
    from compact
    cross join fields
    left join codes
        on codes.attribute = fields.attribute
        and codes.packed_code
            = compact.packed & (((1::hugeint << fields.bits::integer) - 1) << fields.shift::integer)
),

intersection as (
    select
        sex.cell,
        sex.track,
        sex.reached_mask,
        sex.undecided,
        sex.llm_score,
        'sex x race_ethnicity' as attribute,
        case
            when sex."group" = 'Unknown' or race."group" = 'Unknown' then 'Unknown'
            else race."group" || '|' || sex."group"
        end as "group",
        sex.applications,
        sex.first_at,
        sex.last_at,
    from unpacked as sex
    inner join unpacked as race
        on race.cell = sex.cell
        and race.attribute = 'race_ethnicity'
    where sex.attribute = 'sex'
),

final as (
    select
        track,
        reached_mask,
        undecided,
        llm_score,
        attribute,
        "group",
        sum(applications)::bigint as applications,
        min(first_at) as first_at,
        max(last_at) as last_at,
    from (
        select * from unpacked
        union all
        select * from intersection
    )
    group by all
)

select * from final
