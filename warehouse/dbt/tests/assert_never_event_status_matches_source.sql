{#- Why: a source that does not send the Never Event flag must give not_supplied, never "not a Never Event"
    (most LRMS listings do not send it, and reading their silence as "none" would understate Never Events). The
    type key must point at a real Never Event type only for an incident recorded as one. Recomputed from the
    canonical record.
    Nightly, only the incidents changed since the test's last pass (macros/check_scope.sql). -#}
{{ config(meta={'scoped_check': true}) }}
{%- set since = psirf_checks_since(model.unique_id) %}
with
{{ psirf_changed_cte(since, 'incident_key', [(source('canonical', 'incident'), 'updated_at'), (ref('fct_incident'), 'canonical_updated_at')]) }}
fact as (
    select f.incident_key, f.never_event_status, f.never_event, t.code as never_event_type_code,
           i.never_event as source_never_event
    from {{ ref('fct_incident') }} f
    left join {{ source('canonical', 'incident') }} i on i.incident_key = f.incident_key
    left join {{ ref('dim_never_event_type') }} t on t.never_event_type_key = f.never_event_type_key
    where {{ psirf_in_changed('f.incident_key', since) }}
)

select incident_key, never_event_status, source_never_event, never_event_type_code
from fact
where never_event_status is distinct from
          case when source_never_event then 'never_event'
               when not source_never_event then 'not_never_event'
               else 'not_supplied' end
   or never_event is distinct from source_never_event
   or (never_event_status <> 'never_event' and never_event_type_code <> 'unknown')
