{#- Every canonical incident record, any event type, deleted ones included (the facts need to see deletions).
    No free text, no local reference: only what the marts use. The provider's own records only: the national LFPSE
    record of an organisation that also sends its own (record_origin lfpse_national) is never counted as an
    incident; it reaches the reconciliation models through stg_canonical__lfpse_national_incidents. -#}
select
    incident_key,
    provider_ods,
    source_record_id,
    coalesce(event_type_code, 'incident') as event_type_code,
    occurred_date,
    reported_date,
    category_code,
    physical_harm_code,
    psychological_harm_code,
    harm_mapping_basis,
    {{ clean_label('coalesce(division_source, service_area_source)') }} as division,
    {{ clean_label('specialty_source') }} as specialty,
    {{ clean_label('location_type_source') }} as location_type,
    duty_of_candour,
    duty_of_candour_notified_date,
    never_event,
    never_event_type_code,
    hsib_notify,
    coalesce(data_sharing_opt_out, false) as data_sharing_opt_out,
    taxonomy_version,
    is_deleted,
    updated_at
from {{ source('canonical', 'incident') }}
where record_origin = 'local'
