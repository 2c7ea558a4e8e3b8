select
    {{ natural_key(["'age_bracket'", 'a.code']) }} as age_bracket_key,
    a.code,
    a.display as label,
    b.age_band,
    cast(a.code as integer) as sort_order
from {{ ref('lfpse_v5_code_systems') }} a
join {{ ref('age_bands') }} b on b.age_bracket_code = a.code
where a.code_system_id = 'age-brackets-5'
union all
select {{ unknown_key() }}, 'unknown', 'Unknown / not recorded', 'Unknown', 99
