{#- Why: "none" and "not supplied" must never be confused: a provider that sends no learning responses is not a
    provider whose incidents had none. Checked against the batch ledger directly: not_supplied only where the
    provider has no loaded batch of learning responses; supplied exactly where a live response other than "no
    further response" covers the incident; has_psii exactly where a live PSII covers it. -#}
with sends as (
    select provider_ods, count(*) > 0 as sends_learning_responses
    from {{ source('canonical', 'batch_ledger') }}
    where entity = 'learning_responses' and status = 'loaded'
    group by provider_ods
),

covered as (
    select
        b.incident_key,
        count(*) filter (where r.response_type_code not in ('none', 'unknown')) as with_learning,
        count(*) filter (where r.response_type_code = 'psii') as psii,
        count(*) as responses
    from {{ ref('bridge_learning_response_incident') }} b
    join {{ ref('fct_learning_response') }} r on r.learning_response_key = b.learning_response_key
    group by b.incident_key
),

expected as (
    select
        c.incident_key,
        c.learning_response_coverage,
        c.has_psii,
        c.learning_responses,
        case when coalesce(v.with_learning, 0) > 0 then 'supplied'
             when coalesce(s.sends_learning_responses, false) then 'none'
             else 'not_supplied' end as expected_coverage,
        coalesce(v.psii, 0) > 0 as expected_psii,
        coalesce(v.responses, 0) as expected_responses
    from {{ ref('oversight_learning_response_coverage') }} c
    left join covered v on v.incident_key = c.incident_key
    left join sends s on s.provider_ods = c.provider_ods
)

select *
from expected
where learning_response_coverage is distinct from expected_coverage
   or has_psii is distinct from expected_psii
   or learning_responses <> expected_responses
