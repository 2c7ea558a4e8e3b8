{#- Why: outcomes, risks and good-care records are learned from but never counted as incidents; they must all
    be in fct_other_safety_event (live ones, any event type but incident) and none of them in fct_incident.
    Same keys both ways. -#}
with canonical as (
    select incident_key
    from {{ source('canonical', 'incident') }}
    where not is_deleted and coalesce(event_type_code, 'incident') <> 'incident' and record_origin = 'local'
),

fact as (
    select event_key from {{ ref('fct_other_safety_event') }}
)

select
    coalesce(c.incident_key, f.event_key) as event_key,
    case when f.event_key is null then 'live canonical non-incident record missing from fct_other_safety_event'
         else 'fct_other_safety_event row that is not a live canonical non-incident record' end as problem
from canonical c
full outer join fact f on f.event_key = c.incident_key
where c.incident_key is null or f.event_key is null
