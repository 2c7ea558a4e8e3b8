{#- Why: the Duty of Candour (Regulation 20) is notifiable on every incident with moderate or worse harm, so on
    such an incident a blank or a "No" is a compliance finding (not_recorded), never "not applicable"; below
    moderate it is not_applicable. A status that drifts from this rule hides findings from the ICB. The expected
    status is recomputed here from the canonical record (what the source said), not from the model's logic.
    Only incidents carry a status: outcomes, risks and good care must carry none.
    Returns one row per offending incident and problem. -#}
with fact as (
    select
        f.incident_key,
        f.is_moderate_or_worse,
        f.duty_of_candour_status,
        f.duty_of_candour_recorded,
        f.duty_of_candour_notified_date,
        i.duty_of_candour as source_duty,
        i.duty_of_candour_notified_date as source_notified_date
    from {{ ref('fct_incident') }} f
    left join {{ source('canonical', 'incident') }} i on i.incident_key = f.incident_key
),

status_rows as (
    select f.incident_key, count(s.code) as statuses
    from fact f
    left join {{ ref('dim_duty_of_candour_status') }} s on s.code = f.duty_of_candour_status
    group by f.incident_key
),

expected as (
    select
        f.*,
        case when not f.is_moderate_or_worse then 'not_applicable'
             when f.source_duty is true and f.source_notified_date is not null then 'notified'
             when f.source_duty is true then 'not_yet_notified'
             else 'not_recorded' end as expected_status
    from fact f
),

problems as (
    select incident_key, 'not exactly one Duty of Candour status in dim_duty_of_candour_status' as problem
    from status_rows where statuses <> 1

    union all
    select incident_key, 'moderate or worse harm but not_applicable (or no status)'
    from fact where is_moderate_or_worse and coalesce(duty_of_candour_status, 'not_applicable') = 'not_applicable'

    union all
    select incident_key, 'harm below moderate (or not graded) but not not_applicable'
    from fact where not is_moderate_or_worse and duty_of_candour_status is distinct from 'not_applicable'

    union all
    select incident_key, 'moderate or worse harm, source recorded No or blank, but not not_recorded'
    from fact
    where is_moderate_or_worse and (source_duty is null or source_duty = false)
      and duty_of_candour_status is distinct from 'not_recorded'

    union all
    select incident_key, 'status differs from the one the canonical record implies (' || expected_status || ')'
    from expected where duty_of_candour_status is distinct from expected_status

    union all
    select incident_key, 'duty_of_candour_recorded differs from the source'
    from fact where duty_of_candour_recorded is distinct from source_duty

    union all
    select incident_key, 'a notification date without status notified, or notified without a date'
    from fact where (duty_of_candour_notified_date is not null) <> (coalesce(duty_of_candour_status, '') = 'notified')

    union all
    select incident_key, 'a record that is not an incident carries a Duty of Candour or Never Event status'
    from {{ ref('int_incident_measures') }}
    where not is_incident and (duty_of_candour_status is not null or never_event_status is not null)
)

select * from problems
