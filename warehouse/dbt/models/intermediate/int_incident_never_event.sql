{#- Never Event, from every source family: the flag as the source sent it. A source that does not send the flag
    (its profile maps no Never Event column, or the field was left blank) gives not_supplied, never "not a Never
    Event". One row per canonical incident record of event type incident. -#}
select
    incident_key,
    case when never_event then 'never_event'
         when not never_event then 'not_never_event'
         else 'not_supplied' end as never_event_status,
    never_event,
    case when never_event then never_event_type_code end as never_event_type_code
from {{ ref('stg_canonical__incidents') }}
where event_type_code = 'incident'
