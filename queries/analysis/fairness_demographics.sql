-- grain: one row per candidate and self-identification attribute
-- title: Demographic attributes for the fairness audit
-- description: Every self-ID attribute of every candidate in long form (sex, race_ethnicity and any further column of demographics.csv), values normalised so blanks and "Decline to state" are Unknown. The Fairness page joins it to application journeys via candidate_id; candidates without a row count as Unknown.

with

demographic_attributes as (
    select * from demographic_attributes
),

final as (
    select
        candidate_id,
        attribute,
        value
    from demographic_attributes
)

select * from final
order by candidate_id, attribute
