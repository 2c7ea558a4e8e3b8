{{ config(materialized='incremental', unique_key='location_type_key', incremental_strategy='replace_changed',
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Types of location as providers label them (e.g. "Inpatient ward"), matched ignoring case and repeated spaces. -#}
with labelled as (
    -- Grouped by the matching label first, then hashed: one key computed per location type, not per incident.
    select lower(location_type) as location_type_match, min(location_type) as location_type,
           max(updated_at) as canonical_updated_at
    from {{ ref('stg_canonical__incidents') }}
    where location_type is not null
    {% if is_incremental() %}and {{ changed_since_watermark('updated_at') }}{% endif %}
    group by lower(location_type)
)

select
    {{ natural_key(["'location_type'", 'location_type_match']) }} as location_type_key,
    location_type, canonical_updated_at {{ removed_flag('false') }}
from labelled
{% if not is_incremental() %}
union all
select {{ unknown_key() }}, 'Unknown / not recorded', null
{% endif %}
