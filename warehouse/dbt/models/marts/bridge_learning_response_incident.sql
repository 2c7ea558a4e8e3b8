{{ config(materialized='incremental', unique_key=['learning_response_key', 'incident_key'],
          incremental_strategy='replace_changed', replace_by='learning_response_key',
          indexes=psirf_indexes(['learning_response_key', 'canonical_updated_at']),
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Grain: one row per (learning response, incident) pair where both are live: the incidents a response covers
    (many-to-many). Incremental by response: a response is affected when it changed or when one of the incidents
    it links to changed; every pair of an affected response is replaced (all its live pairs, or a tombstone), so
    a pair leaves when its response or its incident does, and the response's other pairs stay.
    (Replacing by both keys instead would delete every pair of a response, or of an incident, that merely appears
    next to a changed one in the batch, without re-inserting the pairs of that response that did not change.) -#}
with responses as (
    select learning_response_key, is_deleted, updated_at from {{ ref('stg_canonical__learning_responses') }}
),

incidents as (
    select incident_key, is_deleted, event_type_code, updated_at from {{ ref('stg_canonical__incidents') }}
),

links as (
    select learning_response_key, incident_key, provider_ods
    from {{ ref('stg_canonical__learning_response_incidents') }}
),

{% if is_incremental() %}
affected as (
    select learning_response_key from responses
    where {{ changed_since_watermark('updated_at') }}
    union
    select l.learning_response_key from links l
    join incidents i on i.incident_key = l.incident_key
    where {{ changed_since_watermark('i.updated_at') }}
),
{% endif %}

pairs as (
    select
        l.learning_response_key,
        l.incident_key,
        l.provider_ods,
        greatest(r.updated_at, i.updated_at) as canonical_updated_at,
        {{ run_stamp() }} as refreshed_at
    from links l
    join responses r on r.learning_response_key = l.learning_response_key and not r.is_deleted
    join incidents i on i.incident_key = l.incident_key and not i.is_deleted and i.event_type_code = 'incident'
    {% if is_incremental() %}
    where l.learning_response_key in (select learning_response_key from affected)
    {% endif %}
)

{% if is_incremental() %}
{#- Every affected response gives at least one row (its live pairs, or one pair-less tombstone), so the DELETE by
    learning_response_key clears its old pairs; only live pairs are inserted. A join, not a UNION with tombstone
    rows, so the batch's columns keep the fact's types. #}
select
    a.learning_response_key,
    p.incident_key,
    p.provider_ods,
    p.canonical_updated_at,
    p.refreshed_at,
    p.incident_key is null as is_removed
from (select distinct learning_response_key from affected) a
left join pairs p on p.learning_response_key = a.learning_response_key
{% else %}
select * from pairs
{% endif %}
