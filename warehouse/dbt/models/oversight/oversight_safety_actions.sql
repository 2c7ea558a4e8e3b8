{#- One row per live safety action, as at today: the per-action overdue list. "Overdue" is the one definition
    in int_safety_action_status, read at current_date. -#}
select
    f.safety_action_key,
    f.provider_ods,
    coalesce(cur.name, f.provider_ods) as provider_name,
    f.owning_org_ods,
    f.status_code as status,
    f.agreed_date,
    f.effective_due_date as due_date,
    f.completed_date,
    f.is_system_wide,
    (f.overdue_from_date <= current_date and (f.overdue_to_date is null or current_date < f.overdue_to_date))
        is true as is_overdue,
    case when f.overdue_from_date <= current_date
              and (f.overdue_to_date is null or current_date < f.overdue_to_date)
         then {{ days_between('f.effective_due_date', 'current_date') }} end as days_overdue,
    f.completed_on_time,
    f.incident_key,
    i.occurred_date as incident_occurred_date,
    f.learning_response_key
from {{ ref('fct_safety_action') }} f
left join {{ ref('fct_incident') }} i on i.incident_key = f.incident_key
{{ current_provider('cur', 'f.provider_ods') }}
