{#- The national LFPSE record of organisations that also send their own records (record_origin lfpse_national):
    live incidents only, each under the organisation that reported it (the first ODS code of its Organisation),
    with its worst physical harm and number of patients. Never counted as incidents anywhere: only the
    reconciliation models read it. The LRMS reference it carries is kept only as an MD5 hash, enough to match on
    and nothing an analyst could read. -#}
with national as (
    select *
    from {{ source('canonical', 'incident') }}
    where record_origin = 'lfpse_national'
      and not is_deleted
      and coalesce(event_type_code, 'incident') = 'incident'
),

patients as (
    select
        p.incident_key,
        count(*) as patients,
        max({{ physical_harm_rank('p.physical_harm_code') }}) as physical_rank
    from {{ source('canonical', 'incident_patient') }} p
    join national n on n.incident_key = p.incident_key
    group by p.incident_key
)

select
    n.incident_key,
    upper(trim(split_part(n.location_ods, '|', 1))) as provider_ods,
    n.provider_ods as feed_ods,
    n.source_record_id,
    case when nullif(trim(n.local_reference), '') is not null then md5(trim(n.local_reference)) end
        as local_reference_hash,
    n.occurred_date,
    n.reported_date as submitted_date,
    n.category_code,
    case
        when p.physical_rank is null then n.physical_harm_code
        when {{ physical_harm_rank('n.physical_harm_code') }} > p.physical_rank then n.physical_harm_code
        else cast(5 - p.physical_rank as varchar)
    end as worst_physical_harm_code,
    coalesce(p.patients, 0) as patients,
    n.duty_of_candour,
    n.never_event,
    cast(n.source_updated_at as date) as updated_date,
    n.updated_at
from national n
left join patients p on p.incident_key = n.incident_key
where n.location_ods is not null
