{#- Why: LFPSE records harm per patient, and its codes run backwards (physical 5 none … 1 fatal; psychological
    4 none … 1 severe), so "the worst" is the lowest code: an incident ranked by the code, or by its own record
    only, under-reports harm (and with it the Duty of Candour). Recomputed from the canonical tables with its own
    code-to-rank mapping: fct_incident's harm_severity_rank (physical) and its harm keys must be the worst over
    its patients and the harm the record itself carries, and is_moderate_or_worse must follow from the worst of
    either scale.
    Nightly, only the incidents changed since the test's last pass (macros/check_scope.sql). -#}
{{ config(meta={'scoped_check': true}) }}
{%- set since = psirf_checks_since(model.unique_id) %}
with
{{ psirf_changed_cte(since, 'incident_key', [(source('canonical', 'incident'), 'updated_at'), (source('canonical', 'incident_patient'), 'updated_at'), (ref('fct_incident'), 'canonical_updated_at')]) }}
physical_scale (code, severity) as (
    values ('5', 0), ('4', 1), ('3', 2), ('2', 3), ('1', 4)
),

psychological_scale (code, severity) as (
    values ('4', 0), ('3', 1), ('2', 2), ('1', 3)
),

own as (
    select i.incident_key, ph.severity as physical, ps.severity as psychological
    from {{ source('canonical', 'incident') }} i
    left join physical_scale ph on ph.code = i.physical_harm_code
    left join psychological_scale ps on ps.code = i.psychological_harm_code
    where {{ psirf_in_changed('i.incident_key', since) }}
),

patients as (
    select p.incident_key, max(ph.severity) as physical, max(ps.severity) as psychological
    from {{ source('canonical', 'incident_patient') }} p
    left join physical_scale ph on ph.code = p.physical_harm_code
    left join psychological_scale ps on ps.code = p.psychological_harm_code
    where {{ psirf_in_changed('p.incident_key', since) }}
    group by p.incident_key
),

expected as (
    select
        o.incident_key,
        case when p.physical is null or o.physical > p.physical then o.physical else p.physical end as physical,
        case when p.psychological is null or o.psychological > p.psychological then o.psychological
             else p.psychological end as psychological
    from own o
    left join patients p on p.incident_key = o.incident_key
)

select
    f.incident_key,
    f.harm_severity_rank,
    e.physical as expected_physical_rank,
    dph.severity_rank as physical_key_rank,
    dps.severity_rank as psychological_key_rank,
    e.psychological as expected_psychological_rank,
    f.is_moderate_or_worse
from {{ ref('fct_incident') }} f
left join expected e on e.incident_key = f.incident_key
left join {{ ref('dim_physical_harm') }} dph on dph.physical_harm_key = f.physical_harm_key
left join {{ ref('dim_psychological_harm') }} dps on dps.psychological_harm_key = f.psychological_harm_key
where {{ psirf_in_changed('f.incident_key', since) }}
  and (f.harm_severity_rank is distinct from e.physical
   or dph.severity_rank is distinct from e.physical
   or dps.severity_rank is distinct from e.psychological
   or f.is_moderate_or_worse is distinct from (coalesce(e.physical, 0) >= 2 or coalesce(e.psychological, 0) >= 2))
