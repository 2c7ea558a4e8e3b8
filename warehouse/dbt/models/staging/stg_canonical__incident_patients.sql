{#- Patients of incidents: harm and demographics. Not even the pseudonym reaches the marts. Patients of the
    providers' own records only (as stg_canonical__incidents); the national LFPSE records' patients are counted by
    stg_canonical__lfpse_national_incidents. -#}
select
    incident_patient_key,
    incident_key,
    provider_ods,
    patient_sequence,
    age_at_incident_years,
    age_bracket_code,
    gender_code,
    ethnicity_code,
    physical_harm_code,
    psychological_harm_code,
    updated_at
from {{ source('canonical', 'incident_patient') }} p
where not exists (
    select 1 from {{ source('canonical', 'incident') }} i
    where i.incident_key = p.incident_key and i.record_origin <> 'local'
)
