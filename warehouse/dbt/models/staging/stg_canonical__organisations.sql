select
    ods_code,
    name,
    org_type,
    icb_code,
    region_code
from {{ source('canonical', 'organisation') }}
