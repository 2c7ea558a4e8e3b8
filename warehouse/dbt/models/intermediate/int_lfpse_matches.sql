{{ config(materialized='table') }}
{#- Which local record is which national LFPSE record: one row per matched pair, never one LFPSE record for two
    local ones (nor the reverse).

    1. By reference: the LRMS reference the LFPSE record carries equals the local record's own reference, same
       provider, and the reference is unique on each side within the provider (a reference used twice is no key).
       Score 100, method `reference`.
    2. Otherwise by score, among the records step 1 left unmatched: same provider and occurred dates at most
       `lfpse_match_tolerance_days` apart (required), then
         occurred date: 40 points on the same day, 10 fewer for each day apart;
         worst physical harm equal: 25; number of patients equal: 20;
         category equal: 15 (only when both records carry one: LFPSE FHIR exports carry no NRLS category).
       A pair counts at `lfpse_match_min_score` (default 60) or more, and only when each is the other's best
       candidate (ties broken by fewer days apart, then by key): a mutual best match, so an ambiguous record is
       left unmatched rather than guessed. Method `score`. -#}
{%- set tolerance = var('lfpse_match_tolerance_days') | int -%}
{%- set min_score = var('lfpse_match_min_score') | int -%}
with national as (
    select * from {{ ref('stg_canonical__lfpse_national_incidents') }}
),

local_patients as (
    select incident_key, count(*) as patients
    from {{ ref('stg_canonical__incident_patients') }}
    group by incident_key
),

local_records as (
    select
        m.incident_key,
        m.provider_ods,
        m.occurred_date,
        m.category_code,
        m.worst_physical_harm_code,
        coalesce(lp.patients, 0) as patients,
        r.local_reference_hash
    from {{ ref('int_incident_measures') }} m
    join {{ ref('stg_canonical__organisations') }} o on o.ods_code = m.provider_ods and o.org_type = 'trust'
    left join local_patients lp on lp.incident_key = m.incident_key
    left join {{ ref('stg_canonical__local_incident_references') }} r on r.incident_key = m.incident_key
    where m.is_incident and not m.is_deleted
      and exists (select 1 from national)
),

unique_local_refs as (
    select provider_ods, local_reference_hash
    from local_records where local_reference_hash is not null
    group by provider_ods, local_reference_hash having count(*) = 1
),

unique_national_refs as (
    select provider_ods, local_reference_hash
    from national where local_reference_hash is not null
    group by provider_ods, local_reference_hash having count(*) = 1
),

by_reference as (
    select l.incident_key as local_incident_key, n.incident_key as lfpse_incident_key, l.provider_ods,
           'reference' as match_method, 100 as match_score
    from local_records l
    join unique_local_refs ul on ul.provider_ods = l.provider_ods and ul.local_reference_hash = l.local_reference_hash
    join national n on n.provider_ods = l.provider_ods and n.local_reference_hash = l.local_reference_hash
    join unique_national_refs un on un.provider_ods = n.provider_ods and un.local_reference_hash = n.local_reference_hash
),

-- The date tolerance as an equi-join: each LFPSE record is offered on every day within the tolerance, so the pairs
-- come from a hash join on (provider, day), never from every local record of a provider against every LFPSE one.
tolerance_days as (
    {%- for offset in range(-tolerance, tolerance + 1) %}
    select {{ offset }} as days_offset{% if not loop.last %} union all{% endif %}
    {%- endfor %}
),

national_days as (
    select n.*, cast(n.occurred_date + t.days_offset as date) as candidate_date
    from national n
    cross join tolerance_days t
    where not exists (select 1 from by_reference b where b.lfpse_incident_key = n.incident_key)
),

candidates as (
    select
        l.incident_key as local_incident_key,
        n.incident_key as lfpse_incident_key,
        l.provider_ods,
        abs({{ days_between('l.occurred_date', 'n.occurred_date') }}) as days_apart,
        40 - 10 * abs({{ days_between('l.occurred_date', 'n.occurred_date') }})
            + case when l.worst_physical_harm_code = n.worst_physical_harm_code then 25 else 0 end
            + case when l.patients = n.patients then 20 else 0 end
            + case when l.category_code = n.category_code then 15 else 0 end as match_score
    from local_records l
    join national_days n on n.provider_ods = l.provider_ods and n.candidate_date = l.occurred_date
    where not exists (select 1 from by_reference b where b.local_incident_key = l.incident_key)
),

ranked as (
    select
        c.*,
        row_number() over (partition by local_incident_key
                           order by match_score desc, days_apart, lfpse_incident_key) as local_rank,
        row_number() over (partition by lfpse_incident_key
                           order by match_score desc, days_apart, local_incident_key) as lfpse_rank
    from candidates c
    where match_score >= {{ min_score }}
)

select local_incident_key, lfpse_incident_key, provider_ods, match_method, match_score
from by_reference
union all
select local_incident_key, lfpse_incident_key, provider_ods, 'score' as match_method, match_score
from ranked
where local_rank = 1 and lfpse_rank = 1
