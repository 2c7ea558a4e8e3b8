select
    {{ natural_key(["'psychological_harm'", 'code']) }} as psychological_harm_key,
    code,
    display as label,
    {{ psychological_harm_rank('code') }} as severity_rank,
    {{ psychological_harm_rank('code') }} >= 2 as is_moderate_or_worse
from {{ ref('lfpse_v5_code_systems') }}
where code_system_id = 'level-of-psychological-harm-5'
union all
select {{ unknown_key() }}, 'unknown', 'Unknown / not recorded', null, false
