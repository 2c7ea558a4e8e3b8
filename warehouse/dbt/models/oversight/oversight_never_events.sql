select
    f.incident_key,
    f.provider_ods,
    c.provider_name,
    f.occurred_date,
    c.month_start,
    c.occurred_month,
    cat.label as category,
    ph.label as physical_harm,
    nt.code as never_event_type_code,
    nt.label as never_event_type,
    f.duty_of_candour_status,
    c.learning_responses,
    c.has_psii,
    c.learning_response_coverage,
    f.data_sharing_opt_out
from {{ ref('fct_incident') }} f
join {{ ref('oversight_learning_response_coverage') }} c on c.incident_key = f.incident_key
join {{ ref('dim_incident_category') }} cat on cat.category_key = f.category_key
join {{ ref('dim_physical_harm') }} ph on ph.physical_harm_key = f.physical_harm_key
join {{ ref('dim_never_event_type') }} nt on nt.never_event_type_key = f.never_event_type_key
where f.never_event_status = 'never_event'
