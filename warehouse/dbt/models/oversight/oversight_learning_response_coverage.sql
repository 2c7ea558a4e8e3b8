{{ config(materialized='table') }}
{#- Learning-response coverage, one definition: supplied (a learning response covers the incident), none (the
    provider sends learning responses, but none covers it) or not_supplied (the provider sends no learning
    responses at all, so "none" cannot be told apart from "not sent"). A table, not a view: one row per incident,
    read by the period measures, the Never Events list and their checks, computed once per build. -#}
with responses as (
    select
        b.incident_key,
        count(*) as learning_responses,
        sum(case when r.response_type_code = 'psii' then 1 else 0 end) as psii,
        sum(case when r.response_type_code not in ('none', 'unknown') then 1 else 0 end) as responses_with_learning
    from {{ ref('bridge_learning_response_incident') }} b
    join {{ ref('fct_learning_response') }} r on r.learning_response_key = b.learning_response_key
    group by b.incident_key
)

select
    f.incident_key,
    f.provider_ods,
    coalesce(cur.name, f.provider_ods) as provider_name,
    f.occurred_date,
    d.month_start,
    d.month_label as occurred_month,
    f.is_moderate_or_worse,
    f.never_event_status,
    coalesce(r.learning_responses, 0) as learning_responses,
    coalesce(r.psii, 0) > 0 as has_psii,
    case when coalesce(r.responses_with_learning, 0) > 0 then 'supplied'
         when coalesce(s.sends_learning_responses, false) then 'none'
         else 'not_supplied' end as learning_response_coverage,
    f.data_sharing_opt_out
from {{ ref('fct_incident') }} f
join {{ ref('dim_date') }} d on d.date_key = f.occurred_date_key
left join responses r on r.incident_key = f.incident_key
left join {{ ref('int_provider_data_supply') }} s on s.provider_ods = f.provider_ods
{{ current_provider('cur', 'f.provider_ods') }}
