select
    {{ natural_key(["'incident_category'", 'key']) }} as category_key,
    key as code,
    description as label
from {{ ref('nrls_incident_categories') }}
union all
select {{ unknown_key() }}, 'unknown', 'Unknown / not recorded'
