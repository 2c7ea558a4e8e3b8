{{ config(materialized='incremental', unique_key='service_area_key', incremental_strategy='replace_changed',
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Service areas as providers label them (division or LFPSE service area, and specialty), matched ignoring case
    and repeated spaces. Incremental: the labels of incidents changed since the watermark are added (or their
    display text refreshed). -#}
with labelled as (
    select
        {{ natural_key(["'service_area'", 'lower(division)', 'lower(specialty)']) }} as service_area_key,
        division, specialty, updated_at
    from {{ ref('stg_canonical__incidents') }}
    where (division is not null or specialty is not null)
    {% if is_incremental() %}and {{ changed_since_watermark('updated_at') }}{% endif %}
)

select service_area_key, min(division) as division, min(specialty) as specialty,
       max(updated_at) as canonical_updated_at {{ removed_flag('false') }}
from labelled
group by service_area_key
{% if not is_incremental() %}
union all
select {{ unknown_key() }}, null, null, null
{% endif %}
