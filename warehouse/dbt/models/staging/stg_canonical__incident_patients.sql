{#- Patients of incidents: harm and demographics. Not even the pseudonym reaches the marts. -#}
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
from {{ source('canonical', 'incident_patient') }}
