select
    {{ natural_key(["'learning_response_type'", 'code']) }} as response_type_key,
    code,
    label,
    sort_order
from {{ ref('learning_response_types') }}
union all
select {{ unknown_key() }}, 'unknown', 'Unknown / not recorded', 99
