select
    learning_response_key,
    incident_key,
    provider_ods
from {{ source('canonical', 'learning_response_incident') }}
