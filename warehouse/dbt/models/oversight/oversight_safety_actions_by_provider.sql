select
    provider_ods,
    provider_name,
    count(*) as actions,
    sum(case when status not in ('completed', 'cancelled') then 1 else 0 end) as open,
    sum(case when is_overdue then 1 else 0 end) as overdue,
    sum(case when status = 'completed' then 1 else 0 end) as completed,
    sum(case when completed_on_time then 1 else 0 end) as completed_on_time,
    sum(case when status = 'cancelled' then 1 else 0 end) as cancelled,
    sum(case when is_system_wide then 1 else 0 end) as system_wide,
    sum(case when is_system_wide and is_overdue then 1 else 0 end) as system_wide_overdue
from {{ ref('oversight_safety_actions') }}
group by provider_ods, provider_name
