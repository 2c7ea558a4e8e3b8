{{ config(materialized='incremental', unique_key=['learning_response_key', 'incident_key'],
          incremental_strategy='replace_changed', replace_by=['learning_response_key', 'incident_key'],
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Grain: one row per (learning response, incident) pair where both are live: the incidents a response covers
    (many-to-many). Incremental by both parents: the pairs of every changed response and of every changed incident
    are replaced, so a pair leaves when its response or its incident does. -#}
with responses as (
    select learning_response_key, is_deleted, updated_at from {{ ref('stg_canonical__learning_responses') }}
),

incidents as (
    select incident_key, is_deleted, event_type_code, updated_at from {{ ref('stg_canonical__incidents') }}
),

pairs as (
    select
        l.learning_response_key,
        l.incident_key,
        l.provider_ods,
        greatest(r.updated_at, i.updated_at) as canonical_updated_at,
        {{ run_stamp() }} as refreshed_at
        {{ removed_flag('false') }}
    from {{ ref('stg_canonical__learning_response_incidents') }} l
    join responses r on r.learning_response_key = l.learning_response_key and not r.is_deleted
    join incidents i on i.incident_key = l.incident_key and not i.is_deleted and i.event_type_code = 'incident'
    {% if is_incremental() %}
    where {{ changed_since_watermark('r.updated_at') }} or {{ changed_since_watermark('i.updated_at') }}
    {% endif %}
)

select * from pairs
{% if is_incremental() %}
union all
select learning_response_key, null, null, null, null, true from responses
where {{ changed_since_watermark('updated_at') }}
union all
select null, incident_key, null, null, null, true from incidents
where {{ changed_since_watermark('updated_at') }}
{% endif %}
