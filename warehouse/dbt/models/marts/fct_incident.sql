{{ config(materialized='incremental', unique_key='incident_key', incremental_strategy='replace_changed',
          indexes=psirf_indexes(['incident_key', 'canonical_updated_at']),
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{# Grain: one row per live incident record (canonical incident, event type incident, not deleted upstream).
    Only incidents: LFPSE outcomes, risks and good-care records are in fct_other_safety_event.

    Incremental: incidents whose record or patients changed since the watermark are replaced whole; a record
    deleted upstream, or no longer an incident, leaves (a tombstone). -#}
with changed as (
    -- The measures of the incidents that changed (their record or their patients) since this fact's watermark.
    select i.*
    from {{ ref('int_incident_measures') }} i
    {% if is_incremental() %}
    where {{ changed_since_watermark('i.canonical_updated_at') }}
    {% else %}
    where not i.is_deleted and i.is_incident
    {% endif %}
)

select
    i.incident_key,
    i.provider_ods,
    {{ coded_key('organisation', 'o', 'i.provider_ods') }} as organisation_key,
    {{ date_key('i.occurred_date') }} as occurred_date_key,
    {{ date_key('i.reported_date') }} as reported_date_key,
    i.occurred_date,
    i.reported_date,
    i.days_to_report,
    {{ coded_key('category', 'c', 'i.category_code') }} as category_key,
    {{ coded_key('physical_harm', 'ph', 'i.worst_physical_harm_code') }} as physical_harm_key,
    {{ coded_key('psychological_harm', 'ps', 'i.worst_psychological_harm_code') }} as psychological_harm_key,
    i.physical_severity_rank as harm_severity_rank,
    i.is_moderate_or_worse,
    case when i.division is null and i.specialty is null then {{ unknown_key() }}
         else {{ natural_key(["'service_area'", 'lower(i.division)', 'lower(i.specialty)']) }} end as service_area_key,
    case when i.location_type is null then {{ unknown_key() }}
         else {{ natural_key(["'location_type'", 'lower(i.location_type)']) }} end as location_type_key,
    i.duty_of_candour_status,
    i.duty_of_candour_recorded,
    i.duty_of_candour_notified_date,
    i.days_to_notification,
    i.never_event_status,
    i.never_event,
    {{ coded_key('never_event_type', 'nt', 'i.never_event_type_code') }} as never_event_type_key,
    i.data_sharing_opt_out,
    i.harm_mapping_basis,
    i.taxonomy_version,
    i.canonical_updated_at,
    {{ run_stamp() }} as refreshed_at
    {{ removed_flag("i.is_deleted or not i.is_incident") }}
from changed i
{{ join_organisation_version('o', 'i.provider_ods', 'i.occurred_date') }}
left join {{ ref('dim_incident_category') }} c on c.code = i.category_code
left join {{ ref('dim_physical_harm') }} ph on ph.code = i.worst_physical_harm_code
left join {{ ref('dim_psychological_harm') }} ps on ps.code = i.worst_psychological_harm_code
left join {{ ref('dim_never_event_type') }} nt on nt.code = i.never_event_type_code
