{{ config(materialized='incremental', unique_key='learning_response_key', incremental_strategy='replace_changed',
          indexes=psirf_indexes(['learning_response_key', 'canonical_updated_at']),
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Grain: one row per live PSIRF learning response (PSII, AAR, SWARM, MDT, thematic review …). -#}
with changed as (
    select r.*
    from {{ ref('stg_canonical__learning_responses') }} r
    {% if is_incremental() %}
    where {{ changed_since_watermark('r.updated_at') }}
    {% else %}
    where not r.is_deleted
    {% endif %}
)

select
    r.learning_response_key,
    r.provider_ods,
    {{ coded_key('organisation', 'o', 'r.provider_ods') }} as organisation_key,
    {{ coded_key('response_type', 't', 'r.response_type_code') }} as response_type_key,
    coalesce(t.code, 'unknown') as response_type_code,
    {{ coded_key('status', 'st', 'r.status_code') }} as status_key,
    coalesce(st.code, 'unknown') as status_code,
    r.commissioned_date,
    r.due_date,
    r.completed_date,
    {{ date_key('r.commissioned_date') }} as commissioned_date_key,
    {{ date_key('r.completed_date') }} as completed_date_key,
    {{ days_between('r.commissioned_date', 'r.completed_date') }} as days_to_completion,
    r.patient_family_involved,
    r.staff_involved,
    r.updated_at as canonical_updated_at,
    {{ run_stamp() }} as refreshed_at
    {{ removed_flag('r.is_deleted') }}
from changed r
{{ join_organisation_version('o', 'r.provider_ods', 'coalesce(r.commissioned_date, cast(r.updated_at as date))') }}
left join {{ ref('dim_learning_response_type') }} t on t.code = r.response_type_code
left join {{ ref('dim_status') }} st on st.code = r.status_code
