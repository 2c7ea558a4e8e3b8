select
    {{ natural_key(["'event_type'", 'code']) }} as event_type_key,
    code,
    label,
    counted_as_incident
from {{ ref('event_types') }}
union all
select {{ unknown_key() }}, 'unknown', 'Unknown / not recorded', false
