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
with incidents as (
    select *
    from {{ ref('int_incident_measures') }}
    where is_incident and not is_deleted
),

children as (
    select distinct incident_key
    from {{ ref('stg_canonical__incident_patients') }}
    where age_at_incident_years < 18
       or (age_at_incident_years is null and age_bracket_code in ('1', '2', '3', '4', '5', '6', '7'))
)

select incident_key, provider_ods, 'never_event' as criterion from incidents where never_event_status = 'never_event'
union all
select incident_key, provider_ods, 'death_in_care' from incidents where physical_severity_rank = 4
union all
select incident_key, provider_ods, 'maternity_severe' from incidents
where physical_severity_rank >= 3
  and (lower(coalesce(specialty, '') || ' ' || coalesce(division, '')) like '%obstetric%'
       or lower(coalesce(specialty, '') || ' ' || coalesce(division, '')) like '%maternity%'
       or lower(coalesce(specialty, '') || ' ' || coalesce(division, '')) like '%midwi%'
       or lower(coalesce(specialty, '') || ' ' || coalesce(division, '')) like '%neonat%')
union all
select i.incident_key, i.provider_ods, 'child_death' from incidents i
join children c on c.incident_key = i.incident_key
where i.physical_severity_rank = 4
union all
select incident_key, provider_ods, 'safeguarding' from incidents where category_code = 'patient_abuse'
union all
select incident_key, provider_ods, 'falls_severe' from incidents
where category_code = 'patient_accident' and physical_severity_rank >= 3
union all
select incident_key, provider_ods, 'self_harm_moderate' from incidents
where category_code = 'self_harming_behaviour' and is_moderate_or_worse
union all
select incident_key, provider_ods, 'medication_moderate' from incidents
where category_code = 'medication' and is_moderate_or_worse
union all
select incident_key, provider_ods, 'treatment_severe' from incidents
where category_code = 'treatment_procedure' and physical_severity_rank >= 3
