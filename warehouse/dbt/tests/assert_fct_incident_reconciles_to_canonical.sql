{#- Why: every incident count the ICB sees comes from fct_incident. It must hold exactly the live incidents of
    the canonical table (not deleted upstream, event type incident): an incremental build that misses a change
    or a deletion would silently under- or over-count. Same keys both ways.
    Nightly, only the incidents changed since the test's last pass (macros/check_scope.sql). -#}
{{ config(meta={'scoped_check': true}) }}
{%- set since = psirf_checks_since(model.unique_id) %}
with
{{ psirf_changed_cte(since, 'incident_key', [(source('canonical', 'incident'), 'updated_at'), (ref('fct_incident'), 'canonical_updated_at')]) }}
canonical as (
    select incident_key
    from {{ source('canonical', 'incident') }}
    where not is_deleted and coalesce(event_type_code, 'incident') = 'incident' and record_origin = 'local'
      and {{ psirf_in_changed('incident_key', since) }}
),

fact as (
    select incident_key from {{ ref('fct_incident') }} where {{ psirf_in_changed('incident_key', since) }}
)

select
    coalesce(c.incident_key, f.incident_key) as incident_key,
    case when f.incident_key is null then 'live canonical incident missing from fct_incident'
         else 'fct_incident row that is not a live canonical incident' end as problem
from canonical c
full outer join fact f on f.incident_key = c.incident_key
where c.incident_key is null or f.incident_key is null
