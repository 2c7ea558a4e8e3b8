select
    {{ natural_key(["'never_event_type'", 'code']) }} as never_event_type_key,
    code,
    display as label
from {{ ref('lfpse_v5_code_systems') }}
where code_system_id = 'never-event-type-5'
union all
select {{ unknown_key() }}, 'unknown', 'Not a Never Event, or type not supplied'
