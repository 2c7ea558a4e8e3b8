{{ config(materialized='incremental', unique_key='event_key', incremental_strategy='replace_changed',
          indexes=psirf_indexes(['event_key', 'canonical_updated_at']),
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Grain: one row per live LFPSE record that is not an incident: an outcome, a risk or good care. They are
    learned from but never counted as incidents (fct_incident holds only incidents). -#}
with changed as (
    -- The measures of the incidents that changed (their record or their patients) since this fact's watermark.
    select i.*
    from {{ ref('int_incident_measures') }} i
    {% if is_incremental() %}
    where {{ changed_since_watermark('i.canonical_updated_at') }}
    {% else %}
    where not i.is_deleted and not i.is_incident
    {% endif %}
)

select
    i.incident_key as event_key,
    i.provider_ods,
    {{ coded_key('organisation', 'o', 'i.provider_ods') }} as organisation_key,
    {{ coded_key('event_type', 'et', 'i.event_type_code') }} as event_type_key,
    i.event_type_code,
    {{ date_key('i.occurred_date') }} as occurred_date_key,
    {{ date_key('i.reported_date') }} as reported_date_key,
    i.occurred_date,
    i.reported_date,
    {{ coded_key('category', 'c', 'i.category_code') }} as category_key,
    {{ coded_key('physical_harm', 'ph', 'i.worst_physical_harm_code') }} as physical_harm_key,
    i.data_sharing_opt_out,
    i.canonical_updated_at,
    {{ run_stamp() }} as refreshed_at
    {{ removed_flag("i.is_deleted or i.is_incident") }}
from changed i
{{ join_organisation_version('o', 'i.provider_ods', 'i.occurred_date') }}
left join {{ ref('dim_event_type') }} et on et.code = i.event_type_code
left join {{ ref('dim_incident_category') }} c on c.code = i.category_code
left join {{ ref('dim_physical_harm') }} ph on ph.code = i.worst_physical_harm_code
