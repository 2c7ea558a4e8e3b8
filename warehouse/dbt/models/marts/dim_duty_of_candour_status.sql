select
    {{ natural_key(["'duty_of_candour_status'", 'code']) }} as duty_of_candour_status_key,
    code,
    label,
    is_finding,
    description
from {{ ref('duty_of_candour_statuses') }}
