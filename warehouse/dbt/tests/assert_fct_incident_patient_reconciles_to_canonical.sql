{#- Why: harm-inequality figures count patients: fct_incident_patient must hold exactly the patients of live
    incidents (a patient pruned from an updated incident, or the patients of a deleted one, must leave with it).
    Same keys both ways, and each patient under the right incident.
    Nightly, only the patients of incidents changed since the test's last pass (macros/check_scope.sql). -#}
{{ config(meta={'scoped_check': true}) }}
{%- set since = psirf_checks_since(model.unique_id) %}
with
{{ psirf_changed_cte(since, 'incident_key', [(source('canonical', 'incident'), 'updated_at'), (source('canonical', 'incident_patient'), 'updated_at'), (ref('fct_incident_patient'), 'canonical_updated_at')]) }}
canonical as (
    select p.incident_patient_key, p.incident_key
    from {{ source('canonical', 'incident_patient') }} p
    join {{ source('canonical', 'incident') }} i on i.incident_key = p.incident_key
    where not i.is_deleted and coalesce(i.event_type_code, 'incident') = 'incident' and i.record_origin = 'local'
      and {{ psirf_in_changed('p.incident_key', since) }}
),

fact as (
    select incident_patient_key, incident_key from {{ ref('fct_incident_patient') }}
    where {{ psirf_in_changed('incident_key', since) }}
)

select
    coalesce(c.incident_patient_key, f.incident_patient_key) as incident_patient_key,
    case when f.incident_patient_key is null then 'patient of a live canonical incident missing from fct_incident_patient'
         when c.incident_patient_key is null then 'fct_incident_patient row that is not a patient of a live incident'
         else 'patient under the wrong incident' end as problem
from canonical c
full outer join fact f on f.incident_patient_key = c.incident_patient_key
where c.incident_patient_key is null or f.incident_patient_key is null or c.incident_key <> f.incident_key
