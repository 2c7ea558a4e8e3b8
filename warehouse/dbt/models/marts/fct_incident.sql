{{ config(materialized='incremental', unique_key='incident_key', incremental_strategy='replace_changed',
          pre_hook="{{ psirf_hold_load_lock() }}") }}
-- depends_on: {{ ref('stg_canonical__incident_patients') }}
{# Grain: one row per live incident record (canonical incident, event type incident, not deleted upstream).
    Only incidents: LFPSE outcomes, risks and good-care records are in fct_other_safety_event.

    Incremental: incidents whose record or patients changed since the watermark are replaced whole; a record
    deleted upstream, or no longer an incident, leaves (a tombstone). -#}
with changed as (
    select i.*
    from {{ ref('stg_canonical__incidents') }} i
    {% if is_incremental() %}
    where {{ changed_since_watermark('i.updated_at') }}
       or i.incident_key in (select p.incident_key from {{ ref('stg_canonical__incident_patients') }} p
                             where {{ changed_since_watermark('p.updated_at') }})
    {% else %}
    where not i.is_deleted and i.event_type_code = 'incident'
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
    {{ days_between('i.occurred_date', 'i.reported_date') }} as days_to_report,
    {{ coded_key('category', 'c', 'i.category_code') }} as category_key,
    {{ coded_key('physical_harm', 'ph', 'h.worst_physical_harm_code') }} as physical_harm_key,
    {{ coded_key('psychological_harm', 'ps', 'h.worst_psychological_harm_code') }} as psychological_harm_key,
    h.physical_severity_rank as harm_severity_rank,
    h.is_moderate_or_worse,
    case when i.division is null and i.specialty is null then {{ unknown_key() }}
         else {{ natural_key(["'service_area'", 'lower(i.division)', 'lower(i.specialty)']) }} end as service_area_key,
    case when i.location_type is null then {{ unknown_key() }}
         else {{ natural_key(["'location_type'", 'lower(i.location_type)']) }} end as location_type_key,
    d.duty_of_candour_status,
    d.duty_of_candour_recorded,
    d.duty_of_candour_notified_date,
    d.days_to_notification,
    n.never_event_status,
    n.never_event,
    {{ coded_key('never_event_type', 'nt', 'n.never_event_type_code') }} as never_event_type_key,
    i.data_sharing_opt_out,
    i.harm_mapping_basis,
    i.taxonomy_version,
    i.updated_at as canonical_updated_at,
    {{ run_stamp() }} as refreshed_at
    {{ removed_flag("i.is_deleted or i.event_type_code <> 'incident'") }}
from changed i
left join {{ ref('int_incident_harm') }} h on h.incident_key = i.incident_key
left join {{ ref('int_incident_duty_of_candour') }} d on d.incident_key = i.incident_key
left join {{ ref('int_incident_never_event') }} n on n.incident_key = i.incident_key
{{ join_organisation_version('o', 'i.provider_ods', 'i.occurred_date') }}
left join {{ ref('dim_incident_category') }} c on c.code = i.category_code
left join {{ ref('dim_physical_harm') }} ph on ph.code = h.worst_physical_harm_code
left join {{ ref('dim_psychological_harm') }} ps on ps.code = h.worst_psychological_harm_code
left join {{ ref('dim_never_event_type') }} nt on nt.code = n.never_event_type_code
