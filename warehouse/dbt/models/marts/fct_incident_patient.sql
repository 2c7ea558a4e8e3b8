{{ config(materialized='incremental', unique_key='incident_patient_key', incremental_strategy='replace_changed',
          replace_by='incident_key', indexes=psirf_indexes(['incident_key', 'canonical_updated_at']),
          pre_hook="{{ psirf_hold_load_lock() }}") }}
-- depends_on: {{ ref('stg_canonical__incident_patients') }}
{# Grain: one row per patient of a live incident (incident, patient sequence): harm and demographics for
    inequality analysis. No patient identifier, not even the pseudonym. Deprivation (IMD decile) is not supplied
    by any feed yet: the columns stay NULL until the canonical model carries an LSOA-derived IMD (never a postcode).

    Incremental by incident: every patient of a changed incident is replaced, so a patient pruned from an updated
    incident leaves with it; a changed incident left with no patient (or deleted) still gives a row, a tombstone
    that clears its old patients. -#}
with changed_incidents as (
    {% if is_incremental() %}
    {{ incidents_changed_since_watermark() }}
    {% else %}
    select i.*
    from {{ ref('stg_canonical__incidents') }} i
    where not i.is_deleted and i.event_type_code = 'incident'
    {% endif %}
),

patients as (
    select
        p.incident_patient_key,
        i.incident_key,
        coalesce(p.provider_ods, i.provider_ods) as provider_ods,
        {{ coded_key('organisation', 'o', 'p.provider_ods') }} as organisation_key,
        {{ date_key('i.occurred_date') }} as occurred_date_key,
        {{ coded_key('physical_harm', 'ph', 'p.physical_harm_code') }} as physical_harm_key,
        {{ coded_key('psychological_harm', 'ps', 'p.psychological_harm_code') }} as psychological_harm_key,
        {{ coded_key('ethnicity', 'e', 'p.ethnicity_code') }} as ethnicity_key,
        {{ coded_key('gender', 'g', 'p.gender_code') }} as gender_key,
        {{ coded_key('age_bracket', 'a', 'p.age_bracket_code') }} as age_bracket_key,
        p.age_at_incident_years,
        cast(null as integer) as imd_decile,
        cast(null as varchar) as imd_version,
        greatest(p.updated_at, i.updated_at) as canonical_updated_at,
        {{ run_stamp() }} as refreshed_at
        {{ removed_flag("p.incident_patient_key is null or i.is_deleted or i.event_type_code <> 'incident'") }}
    from changed_incidents i
    {#- Incremental: a left join, so every changed incident gives at least one row and the DELETE by incident_key
        clears its old patients; only live patients are inserted. (A UNION with separate tombstone rows would
        give the batch untyped key columns, and dbt would then widen the fact's columns by rewriting the table.) #}
    {% if is_incremental() %}left {% endif %}join {{ ref('stg_canonical__incident_patients') }} p
      on p.incident_key = i.incident_key
    {{ join_organisation_version('o', 'p.provider_ods', 'i.occurred_date') }}
    left join {{ ref('dim_physical_harm') }} ph on ph.code = p.physical_harm_code
    left join {{ ref('dim_psychological_harm') }} ps on ps.code = p.psychological_harm_code
    left join {{ ref('dim_ethnicity') }} e on e.code = p.ethnicity_code
    left join {{ ref('dim_gender') }} g on g.code = p.gender_code
    left join {{ ref('dim_age_bracket') }} a on a.code = p.age_bracket_code
    {% if not is_incremental() %}
    where not i.is_deleted and i.event_type_code = 'incident'
    {% endif %}
)

select * from patients
