select
    f.incident_key,
    f.provider_ods,
    coalesce(cur.name, f.provider_ods) as provider_name,
    f.occurred_date,
    d.month_start,
    d.month_label as occurred_month,
    f.reported_date,
    ph.label as physical_harm,
    ps.label as psychological_harm,
    f.duty_of_candour_status,
    s.label as duty_of_candour_status_label,
    s.is_finding,
    f.duty_of_candour_recorded,
    f.duty_of_candour_notified_date,
    f.days_to_notification,
    f.data_sharing_opt_out
from {{ ref('fct_incident') }} f
join {{ ref('dim_date') }} d on d.date_key = f.occurred_date_key
join {{ ref('dim_physical_harm') }} ph on ph.physical_harm_key = f.physical_harm_key
join {{ ref('dim_psychological_harm') }} ps on ps.psychological_harm_key = f.psychological_harm_key
join {{ ref('dim_duty_of_candour_status') }} s on s.code = f.duty_of_candour_status
{{ current_provider('cur', 'f.provider_ods') }}
where f.is_moderate_or_worse
