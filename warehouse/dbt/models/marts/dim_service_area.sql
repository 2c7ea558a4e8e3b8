{{ config(materialized='incremental', unique_key='service_area_key', incremental_strategy='replace_changed',
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Service areas as providers label them (division or LFPSE service area, and specialty), matched ignoring case
    and repeated spaces. Incremental: the labels of incidents changed since the watermark are added (or their
    display text refreshed). -#}
with labelled as (
    -- Grouped by the matching labels first, then hashed: one key computed per service area, not per incident.
    select
        lower(division) as division_match, lower(specialty) as specialty_match,
        min(division) as division, min(specialty) as specialty, max(updated_at) as canonical_updated_at
    from {{ ref('stg_canonical__incidents') }}
    where (division is not null or specialty is not null)
    {% if is_incremental() %}and {{ changed_since_watermark('updated_at') }}{% endif %}
    group by lower(division), lower(specialty)
)

select
    {{ natural_key(["'service_area'", 'division_match', 'specialty_match']) }} as service_area_key,
    division, specialty, canonical_updated_at {{ removed_flag('false') }}
from labelled
{% if not is_incremental() %}
union all
select {{ unknown_key() }}, null, null, null
{% endif %}
