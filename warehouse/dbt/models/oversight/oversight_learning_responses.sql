with covered as (
    select
        b.learning_response_key,
        count(*) as incidents_covered,
        min(i.occurred_date) as first_occurred_date
    from {{ ref('bridge_learning_response_incident') }} b
    join {{ ref('fct_incident') }} i on i.incident_key = b.incident_key
    group by b.learning_response_key
)

select
    r.learning_response_key,
    r.provider_ods,
    coalesce(cur.name, r.provider_ods) as provider_name,
    r.response_type_code,
    t.label as response_type,
    r.status_code as status,
    r.commissioned_date,
    r.due_date,
    r.completed_date,
    r.days_to_completion,
    (r.status_code not in ('completed', 'cancelled') and r.completed_date is null
     and r.due_date < current_date) as is_overdue,
    case when r.status_code not in ('completed', 'cancelled') and r.completed_date is null
              and r.due_date < current_date
         then {{ days_between('r.due_date', 'current_date') }} end as days_overdue,
    coalesce(c.incidents_covered, 0) as incidents_covered,
    c.first_occurred_date,
    r.patient_family_involved,
    r.staff_involved
from {{ ref('fct_learning_response') }} r
join {{ ref('dim_learning_response_type') }} t on t.response_type_key = r.response_type_key
left join covered c on c.learning_response_key = r.learning_response_key
{{ current_provider('cur', 'r.provider_ods') }}
