{{ config(materialized='table') }}
{#- PSIRP response compliance: one row per (incident, requirement) for each live incident that meets a national
    requirement (seed psirf_national_requirements; those whose criterion the data holds) or a local priority of
    its provider's PSIRP (seed psirp_local_priorities), with the response it needs and what was done, as at today.

    Learning responses: the linked response of the required type (not cancelled; a completed one first, else the
    earliest commissioned) and its time frame: due `complete_within_days` after it was commissioned (else after
    the incident was reported). Status:
      met                                   a linked response of the type is completed (completed_within_time_frame
                                            says whether on time) / the referral is recorded as made
      in_progress                           linked, open, within its time frame (or none is set)
      overdue                               linked, open, past its time frame
      no_response_recorded                  the provider sends learning responses, none of the type is linked /
                                            no referral recorded
      provider_sends_no_learning_responses  the provider sends none at all: not supplied, not "not done"
    Referrals: MNSI from the record's HSIB/MNSI notification flag; CDOP, LeDeR and local-authority referrals are
    carried by no feed (referral_status not_recorded). -#}
with requirements as (
    select
        'national' as requirement_source, cast(null as varchar) as plan_provider_ods, requirement_id,
        incident_type as requirement, criterion, response_kind, required_response, response_type_code,
        referral_to, complete_within_days, source
    from {{ ref('psirf_national_requirements') }}
    where criterion_in_data <> 'no'
    union all
    select
        'local_plan', provider_ods, priority_id, priority, criterion, 'learning_response', required_response,
        response_type_code, cast(null as varchar), complete_within_days, source
    from {{ ref('psirp_local_priorities') }}
),

due as (
    select
        c.incident_key, c.provider_ods, r.*, m.source_record_id, m.occurred_date, m.reported_date,
        i.hsib_notify, coalesce(m.data_sharing_opt_out, false) as data_sharing_opt_out
    from {{ ref('int_psirp_incident_criteria') }} c
    join requirements r on r.criterion = c.criterion
     and (r.plan_provider_ods is null or r.plan_provider_ods = c.provider_ods)
    join {{ ref('int_incident_measures') }} m on m.incident_key = c.incident_key
    join {{ ref('stg_canonical__incidents') }} i on i.incident_key = c.incident_key
),

linked as (
    select
        d.incident_key, d.requirement_id, lr.learning_response_key, lr.commissioned_date, lr.completed_date,
        lr.status_code,
        row_number() over (
            partition by d.incident_key, d.requirement_id
            order by case when lr.status_code = 'completed' or lr.completed_date is not null then 0 else 1 end,
                     lr.commissioned_date, lr.learning_response_key) as pick
    from due d
    join {{ ref('stg_canonical__learning_response_incidents') }} b on b.incident_key = d.incident_key
    join {{ ref('stg_canonical__learning_responses') }} lr
      on lr.learning_response_key = b.learning_response_key
     and not lr.is_deleted and lr.status_code <> 'cancelled'
     and lr.response_type_code = d.response_type_code
    where d.response_kind = 'learning_response'
),

assessed as (
    select
        d.*,
        l.learning_response_key,
        l.commissioned_date,
        l.completed_date,
        case when l.learning_response_key is not null and d.complete_within_days is not null
             then coalesce(l.commissioned_date, d.reported_date, d.occurred_date)
                  + cast(d.complete_within_days as integer) end as response_due_date,
        case
            when d.response_kind <> 'referral' then null
            when d.referral_to = 'MNSI' and d.hsib_notify then 'referred'
            when d.referral_to = 'MNSI' and not d.hsib_notify then 'not_referred'
            else 'not_recorded'
        end as referral_status,
        coalesce(s.sends_learning_responses, false) as provider_sends_learning_responses
    from due d
    left join linked l on l.incident_key = d.incident_key and l.requirement_id = d.requirement_id and l.pick = 1
    left join {{ ref('int_provider_data_supply') }} s on s.provider_ods = d.provider_ods
)

select
    {{ natural_key(['a.incident_key', 'a.requirement_id']) }} as compliance_key,
    a.incident_key,
    a.provider_ods,
    coalesce(cur.name, a.provider_ods) as provider_name,
    a.source_record_id,
    a.occurred_date,
    cast({{ month_start_of(month_index('a.occurred_date')) }} as date) as month_start,
    a.requirement_source,
    a.requirement_id,
    a.requirement,
    a.criterion,
    a.response_kind,
    a.required_response,
    a.response_type_code,
    a.referral_to,
    a.complete_within_days,
    a.source,
    a.learning_response_key,
    a.commissioned_date,
    a.completed_date,
    a.response_due_date,
    case when a.completed_date is not null and a.response_due_date is not null
         then a.completed_date <= a.response_due_date end as completed_within_time_frame,
    a.referral_status,
    case
        when a.response_kind = 'referral' then
            case when a.referral_status = 'referred' then 'met' else 'no_response_recorded' end
        when not a.provider_sends_learning_responses then 'provider_sends_no_learning_responses'
        when a.learning_response_key is null then 'no_response_recorded'
        when a.completed_date is not null then 'met'
        when a.response_due_date is not null and a.response_due_date < current_date then 'overdue'
        else 'in_progress'
    end as compliance_status,
    a.data_sharing_opt_out
from assessed a
{{ current_provider('cur', 'a.provider_ods') }}
