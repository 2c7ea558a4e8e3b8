{#- Which national requirement or local PSIRP priority criteria each live incident of a provider's own records
    meets: one row per (incident, criterion). The criteria codes are those of the seeds psirf_national_requirements
    and psirp_local_priorities; each is defined once, here. Several are screening proxies (see the seeds'
    criterion_note): the data can list the incidents to check, not make the provider's judgement.
      never_event          the Never Event flag (never_event_status never_event)
      death_in_care        worst physical harm fatal
      maternity_severe     maternity, obstetric, midwifery or neonatal specialty or division, severe harm or death
      child_death          worst physical harm fatal, a patient under 18 (age, else LFPSE age bracket 1-7)
      safeguarding         NRLS category patient abuse (by staff / third party)
      falls_severe         NRLS category patient accident, severe harm or death
      self_harm_moderate   NRLS category self-harming behaviour, moderate harm or worse
      medication_moderate  NRLS category medication, moderate harm or worse
      treatment_severe     NRLS category treatment, procedure, severe harm or death -#}
{%- set maternity_text = "lower(coalesce(specialty, '') || ' ' || coalesce(division, ''))" -%}
{#- criterion, its condition on the incident's measures, and whether it also needs a child among the patients -#}
{%- set criteria = [
    ('never_event', "never_event_status = 'never_event'", false),
    ('death_in_care', "physical_severity_rank = 4", false),
    ('maternity_severe', "physical_severity_rank >= 3 and (" ~ maternity_text ~ " like '%obstetric%' or "
                         ~ maternity_text ~ " like '%maternity%' or " ~ maternity_text ~ " like '%midwi%' or "
                         ~ maternity_text ~ " like '%neonat%')", false),
    ('child_death', "physical_severity_rank = 4", true),
    ('safeguarding', "category_code = 'patient_abuse'", false),
    ('falls_severe', "category_code = 'patient_accident' and physical_severity_rank >= 3", false),
    ('self_harm_moderate', "category_code = 'self_harming_behaviour' and is_moderate_or_worse", false),
    ('medication_moderate', "category_code = 'medication' and is_moderate_or_worse", false),
    ('treatment_severe', "category_code = 'treatment_procedure' and physical_severity_rank >= 3", false),
] -%}
-- One pass over the measures: only the live incidents meeting some criterion are kept, then each criterion reads
-- those few.
with incidents as materialized (
    select incident_key, provider_ods, never_event_status, physical_severity_rank, is_moderate_or_worse,
           category_code, specialty, division
    from {{ ref('int_incident_measures') }}
    where is_incident and not is_deleted
      and ({% for criterion, condition, _ in criteria %}({{ condition }}){% if not loop.last %}
           or {% endif %}{% endfor %})
),

children as (
    select distinct p.incident_key
    from {{ ref('stg_canonical__incident_patients') }} p
    join incidents i on i.incident_key = p.incident_key and i.physical_severity_rank = 4
    where p.age_at_incident_years < 18
       or (p.age_at_incident_years is null and p.age_bracket_code in ('1', '2', '3', '4', '5', '6', '7'))
)

{% for criterion, condition, needs_child in criteria %}
select i.incident_key, i.provider_ods, '{{ criterion }}' as criterion
from incidents i
{%- if needs_child %}
join children c on c.incident_key = i.incident_key
{%- endif %}
where {{ condition }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
