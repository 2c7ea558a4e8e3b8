select
    {{ natural_key(["'ethnicity'", 'e.code']) }} as ethnicity_key,
    e.code,
    e.description as label,
    coalesce(g.ethnic_group, 'Other') as ethnic_group
from {{ ref('nhs_dd_ethnic_category') }} e
left join {{ ref('ethnic_groups') }} g on g.ethnicity_code = e.code
union all
select {{ unknown_key() }}, 'unknown', 'Unknown / not recorded', 'Unknown'
