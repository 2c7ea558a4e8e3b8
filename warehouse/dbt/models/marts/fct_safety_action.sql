{{ config(materialized='incremental', unique_key='safety_action_key', incremental_strategy='replace_changed',
          indexes=psirf_indexes(['safety_action_key', 'canonical_updated_at']),
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Grain: one row per live safety action. No free text (description, owner, effectiveness measure stay in the
    canonical table). Whether it is overdue on a date is the interval [overdue_from_date, overdue_to_date)
    (int_safety_action_status): oversight_overdue_safety_actions reads it as at today. -#}
with changed as (
    select s.*
    from {{ ref('int_safety_action_status') }} s
    {% if is_incremental() %}
    where {{ changed_since_watermark('s.updated_at') }}
    {% else %}
    where not s.is_deleted
    {% endif %}
)

select
    s.safety_action_key,
    s.provider_ods,
    {{ coded_key('organisation', 'o', 's.provider_ods') }} as organisation_key,
    s.owning_org_ods,
    s.incident_key,
    s.learning_response_key,
    {{ coded_key('status', 'st', 's.status_code') }} as status_key,
    coalesce(st.code, 'unknown') as status_code,
    s.agreed_date,
    s.due_date,
    s.revised_due_date,
    s.effective_due_date,
    s.completed_date,
    {{ date_key('s.effective_due_date') }} as due_date_key,
    {{ date_key('s.completed_date') }} as completed_date_key,
    s.is_system_wide,
    s.completed_on_time,
    s.overdue_from_date,
    s.overdue_to_date,
    s.updated_at as canonical_updated_at,
    {{ run_stamp() }} as refreshed_at
    {{ removed_flag('s.is_deleted') }}
from changed s
{{ join_organisation_version('o', 's.provider_ods',
                             'coalesce(s.agreed_date, s.due_date, s.completed_date, cast(s.updated_at as date))') }}
left join {{ ref('dim_status') }} st on st.code = s.status_code
