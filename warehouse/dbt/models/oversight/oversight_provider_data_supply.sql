select
    s.provider_ods,
    coalesce(cur.name, s.provider_ods) as provider_name,
    s.sends_incidents,
    s.sends_safety_actions,
    s.sends_learning_responses,
    s.sends_never_event_flag,
    s.sends_duty_of_candour,
    s.sends_candour_notification_date,
    s.last_batch_at,
    s.record_origin
from {{ ref('int_provider_data_supply') }} s
{{ current_provider('cur', 's.provider_ods') }}
