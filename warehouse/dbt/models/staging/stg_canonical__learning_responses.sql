select
    learning_response_key,
    provider_ods,
    response_type_code,
    commissioned_date,
    due_date,
    completed_date,
    status_code,
    patient_family_involved,
    staff_involved,
    is_deleted,
    updated_at
from {{ source('canonical', 'learning_response') }}
