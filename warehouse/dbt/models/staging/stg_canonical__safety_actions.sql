select
    safety_action_key,
    provider_ods,
    owning_org_ods,
    incident_key,
    learning_response_key,
    agreed_date,
    due_date,
    revised_due_date,
    coalesce(revised_due_date, due_date) as effective_due_date,
    completed_date,
    status_code,
    is_system_wide,
    is_deleted,
    updated_at
from {{ source('canonical', 'safety_action') }}
