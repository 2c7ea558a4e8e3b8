select
    {{ natural_key(["'gender'", 'code']) }} as gender_key,
    code,
    description as label
from {{ ref('nhs_dd_person_stated_gender') }}
union all
select {{ unknown_key() }}, 'unknown', 'Unknown / not recorded'
