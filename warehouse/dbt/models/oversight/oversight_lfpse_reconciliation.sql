{{ config(materialized='table') }}
{#- The provider's own record against the national LFPSE record, record by record: one row per matched pair, per
    local incident with no LFPSE record and per LFPSE record with no local one (int_lfpse_matches).

    As at the national export's date (`as_at_date`: the newest update in the LFPSE export received). A local
    record with no LFPSE record is `local_only_past_window` once more than `lfpse_submission_window_days` (30)
    have passed since it was reported locally, else `local_only_within_window`: a late submission is not yet a
    failure. A pair is `is_submitted_late` when LFPSE recorded it more than the window after the local report.
    Disagreements are read only where both records carry the value: worst physical harm (both gradings shown),
    Duty of Candour and Never Event flags. -#}
{%- set window = var('lfpse_submission_window_days') | int -%}
with national as (
    select * from {{ ref('stg_canonical__lfpse_national_incidents') }}
),

as_at as (
    select max(coalesce(updated_date, submitted_date)) as as_at_date from national
),

matches as (
    select * from {{ ref('int_lfpse_matches') }}
),

local_records as (
    select m.*
    from {{ ref('int_incident_measures') }} m
    join {{ ref('stg_canonical__organisations') }} o on o.ods_code = m.provider_ods and o.org_type = 'trust'
    where m.is_incident and not m.is_deleted
      and exists (select 1 from national)
),

paired as (
    select
        coalesce(l.provider_ods, n.provider_ods) as provider_ods,
        l.incident_key as local_incident_key,
        l.source_record_id as local_record_id,
        n.incident_key as lfpse_incident_key,
        n.source_record_id as lfpse_record_id,
        mt.match_method,
        mt.match_score,
        coalesce(l.occurred_date, n.occurred_date) as occurred_date,
        l.occurred_date as local_occurred_date,
        n.occurred_date as lfpse_occurred_date,
        l.reported_date as local_reported_date,
        n.submitted_date as lfpse_submitted_date,
        l.worst_physical_harm_code as local_physical_harm_code,
        n.worst_physical_harm_code as lfpse_physical_harm_code,
        l.duty_of_candour_recorded as local_duty_of_candour,
        n.duty_of_candour as lfpse_duty_of_candour,
        l.never_event as local_never_event,
        n.never_event as lfpse_never_event,
        l.data_sharing_opt_out
    from local_records l
    left join matches mt on mt.local_incident_key = l.incident_key
    left join national n on n.incident_key = mt.lfpse_incident_key
    union all
    select
        n.provider_ods, null, null, n.incident_key, n.source_record_id, null, null, n.occurred_date, null,
        n.occurred_date, null, n.submitted_date, null, n.worst_physical_harm_code, null, n.duty_of_candour, null,
        n.never_event, false
    from national n
    where not exists (select 1 from matches m where m.lfpse_incident_key = n.incident_key)
),

classified as (
    select
        p.*,
        a.as_at_date,
        p.local_reported_date + {{ window }} as submission_due_date,
        {{ days_between('p.local_reported_date', 'p.lfpse_submitted_date') }} as days_to_submission,
        case
            when p.local_incident_key is not null and p.lfpse_incident_key is not null then 'matched'
            when p.local_incident_key is null then 'lfpse_only'
            when {{ days_between('coalesce(p.local_reported_date, p.local_occurred_date)', 'a.as_at_date') }}
                 > {{ window }} then 'local_only_past_window'
            else 'local_only_within_window'
        end as reconciliation_status
    from paired p
    cross join as_at a
)

select
    {{ natural_key(['c.local_incident_key', 'c.lfpse_incident_key']) }} as reconciliation_key,
    c.provider_ods,
    coalesce(cur.name, c.provider_ods) as provider_name,
    c.local_incident_key,
    c.local_record_id,
    c.lfpse_incident_key,
    c.lfpse_record_id,
    c.reconciliation_status,
    c.match_method,
    c.match_score,
    c.occurred_date,
    cast({{ month_start_of(month_index('c.occurred_date')) }} as date) as month_start,
    c.local_occurred_date,
    c.lfpse_occurred_date,
    c.local_reported_date,
    c.lfpse_submitted_date,
    c.days_to_submission,
    c.submission_due_date,
    c.as_at_date,
    c.reconciliation_status = 'matched' and c.days_to_submission > {{ window }} as is_submitted_late,
    c.local_physical_harm_code,
    lh.label as local_physical_harm,
    c.lfpse_physical_harm_code,
    nh.label as lfpse_physical_harm,
    coalesce(c.local_physical_harm_code <> c.lfpse_physical_harm_code, false) as harm_disagreement,
    c.local_duty_of_candour,
    c.lfpse_duty_of_candour,
    coalesce(c.local_duty_of_candour <> c.lfpse_duty_of_candour, false) as duty_of_candour_disagreement,
    c.local_never_event,
    c.lfpse_never_event,
    coalesce(c.local_never_event <> c.lfpse_never_event, false) as never_event_disagreement,
    coalesce(c.local_duty_of_candour <> c.lfpse_duty_of_candour, false)
        or coalesce(c.local_never_event <> c.lfpse_never_event, false) as governance_disagreement,
    c.data_sharing_opt_out
from classified c
left join {{ ref('dim_physical_harm') }} lh on lh.code = c.local_physical_harm_code
left join {{ ref('dim_physical_harm') }} nh on nh.code = c.lfpse_physical_harm_code
{{ current_provider('cur', 'c.provider_ods') }}
