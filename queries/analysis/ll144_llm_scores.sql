-- grain: one row per application scored by the LLM triage
-- title: LLM triage scores
-- description: The LLM grader's score of each deliverable (mean over the rubric axes it scored) and when it scored, for the NYC Local Law 144 scoring-rate tables. Joined to application journeys for the triage decision.

with

scores as (
    select * from scores
),

final as (
    select
        application_id,
        -- one number per deliverable: the LLM scores every axis and triage uses the mean
        avg(score) as llm_score,
        count(*) as llm_axes,
        min(scored_at) as llm_scored_at
    from scores
    where grader_kind = 'llm'
    group by application_id
)

select * from final
order by application_id
