select
    {{ natural_key(["'status'", 'code']) }} as status_key,
    code,
    label,
    is_closed
from {{ ref('workflow_statuses') }}
union all
select {{ unknown_key() }}, 'unknown', 'Unknown / not recorded', false
