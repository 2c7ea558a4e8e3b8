{{ config(materialized='incremental', unique_key='incident_key', incremental_strategy='replace_changed',
          indexes=psirf_indexes(['incident_key', 'canonical_updated_at']),
          pre_hook="{{ psirf_hold_load_lock() }}") }}
{#- Grain: one row per canonical incident record, any event type, deleted ones included (the facts see deletions).

    The per-incident measures, each defined once, here:
    - worst harm: the worst physical and psychological harm across the incident's patients (LFPSE records harm per
      patient), or what the record itself carries when it has no patient rows;
    - Duty of Candour status (Regulation 20): notifiable when harm is moderate or worse (physical moderate, severe
      or fatal; psychological moderate or severe), so on such an incident a blank or a "No" is a compliance finding
      (not_recorded), never "not applicable"; below moderate, or harm not graded: not_applicable. With the duty
      recorded as applying: notified when a notification date is recorded, else not_yet_notified;
    - Never Event: the flag as the source sent it; a source that does not send it gives not_supplied, never
      "not a Never Event";
    - reporting timeliness: whole days from occurring to being reported.
    Only incidents (event type incident) carry a Duty of Candour and a Never Event status.

    A table, kept incrementally: a nightly build recomputes only the incidents whose record or patients changed
    since its watermark (canonical_updated_at), reading only their patients (on PostgreSQL by the index on
    incident_key: a few probes, not an aggregate over every patient); a full build aggregates the patients once. The facts, the PSIRP criteria and the LFPSE matching then read this table instead of recomputing every
    incident's measures each time. -#}
-- depends_on: {{ ref('stg_canonical__incident_patients') }}
with incidents as (
    {% if is_incremental() %}
    {{ incidents_changed_since_watermark() }}
    {% else %}
    select i.*
    from {{ ref('stg_canonical__incidents') }} i
    {% endif %}
),

patients as (
    select
        p.incident_key,
        max({{ physical_harm_rank('p.physical_harm_code') }}) as patients_physical_rank,
        max({{ psychological_harm_rank('p.psychological_harm_code') }}) as patients_psychological_rank,
        max(p.updated_at) as patients_updated_at
    from {{ ref('stg_canonical__incident_patients') }} p
    {% if is_incremental() %}
    where p.incident_key in (select incident_key from incidents)
    {% endif %}
    group by p.incident_key
),

patients_worst as (
    select
        i.*,
        {{ physical_harm_rank('i.physical_harm_code') }} as own_physical_rank,
        {{ psychological_harm_rank('i.psychological_harm_code') }} as own_psychological_rank,
        w.patients_physical_rank,
        w.patients_psychological_rank,
        w.patients_updated_at
    from incidents i
    left join patients w on w.incident_key = i.incident_key
),

worst_harm as (
    select
        *,
        nullif(greatest(coalesce(own_physical_rank, -1), coalesce(patients_physical_rank, -1)), -1)
            as physical_severity_rank,
        nullif(greatest(coalesce(own_psychological_rank, -1), coalesce(patients_psychological_rank, -1)), -1)
            as psychological_severity_rank
    from patients_worst
),

measured as (
    select
        *,
        coalesce(physical_severity_rank >= 2, false) or coalesce(psychological_severity_rank >= 2, false)
            as is_moderate_or_worse
    from worst_harm
)

select
    incident_key,
    provider_ods,
    source_record_id,
    event_type_code,
    event_type_code = 'incident' as is_incident,
    occurred_date,
    reported_date,
    {{ days_between('occurred_date', 'reported_date') }} as days_to_report,
    category_code,
    division,
    specialty,
    location_type,
    cast(5 - physical_severity_rank as varchar) as worst_physical_harm_code,
    cast(4 - psychological_severity_rank as varchar) as worst_psychological_harm_code,
    physical_severity_rank,
    psychological_severity_rank,
    is_moderate_or_worse,
    case
        when event_type_code <> 'incident' then null
        when not is_moderate_or_worse then 'not_applicable'
        when duty_of_candour and duty_of_candour_notified_date is not null then 'notified'
        when duty_of_candour then 'not_yet_notified'
        else 'not_recorded'
    end as duty_of_candour_status,
    case when event_type_code = 'incident' then duty_of_candour end as duty_of_candour_recorded,
    case when event_type_code = 'incident' and is_moderate_or_worse and duty_of_candour
         then duty_of_candour_notified_date end as duty_of_candour_notified_date,
    case when event_type_code = 'incident' and is_moderate_or_worse and duty_of_candour
         then {{ days_between('occurred_date', 'duty_of_candour_notified_date') }} end as days_to_notification,
    case when event_type_code <> 'incident' then null
         when never_event then 'never_event'
         when not never_event then 'not_never_event'
         else 'not_supplied' end as never_event_status,
    case when event_type_code = 'incident' then never_event end as never_event,
    case when event_type_code = 'incident' and never_event then never_event_type_code end as never_event_type_code,
    data_sharing_opt_out,
    harm_mapping_basis,
    taxonomy_version,
    is_deleted,
    updated_at,
    case when patients_updated_at > updated_at then patients_updated_at else updated_at end as canonical_updated_at
    {{ removed_flag('false') }}
from measured
