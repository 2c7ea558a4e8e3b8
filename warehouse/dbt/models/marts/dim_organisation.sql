{#- Versions from the snapshot, one per (organisation, day): several changes on one day keep the last. The first
    version of an organisation applies to all history before it (valid from 1900-01-01), so every past incident
    finds the organisation; each later one is valid from the day the snapshot saw the change. -#}
with daily as (
    select
        ods_code, name, org_type, icb_code, region_code,
        cast(dbt_valid_from as date) as seen_on,
        row_number() over (partition by ods_code, cast(dbt_valid_from as date) order by dbt_valid_from desc) as nth
    from {{ ref('snap_organisations') }}
),

versions as (
    select
        ods_code, name, org_type, icb_code, region_code,
        case when row_number() over (partition by ods_code order by seen_on) = 1 then cast('1900-01-01' as date)
             else seen_on end as valid_from,
        lead(seen_on) over (partition by ods_code order by seen_on) as valid_to
    from daily
    where nth = 1
)

select
    {{ natural_key(['ods_code', 'valid_from']) }} as organisation_key,
    ods_code, name, org_type, icb_code, region_code, valid_from, valid_to,
    valid_to is null as is_current
from versions
union all
select {{ unknown_key() }}, 'unknown', 'Unknown organisation', 'unknown', null, null, cast('1900-01-01' as date),
       null, true
