{#- Duty of Candour (Regulation 20) status, one definition: notifiable when harm is moderate or worse (physical
    moderate, severe or fatal; psychological moderate or severe), so on such an incident a blank or a "No" is a
    compliance finding (not_recorded), never "not applicable". Below moderate, or harm not graded: not_applicable.
    One row per canonical incident record of event type incident. -#}
select
    i.incident_key,
    h.is_moderate_or_worse as duty_of_candour_applies,
    case
        when not h.is_moderate_or_worse then 'not_applicable'
        when i.duty_of_candour and i.duty_of_candour_notified_date is not null then 'notified'
        when i.duty_of_candour then 'not_yet_notified'
        else 'not_recorded'
    end as duty_of_candour_status,
    i.duty_of_candour as duty_of_candour_recorded,
    case when h.is_moderate_or_worse and i.duty_of_candour then i.duty_of_candour_notified_date end
        as duty_of_candour_notified_date,
    case when h.is_moderate_or_worse and i.duty_of_candour
         then {{ days_between('i.occurred_date', 'i.duty_of_candour_notified_date') }} end as days_to_notification
from {{ ref('stg_canonical__incidents') }} i
join {{ ref('int_incident_harm') }} h on h.incident_key = i.incident_key
where i.event_type_code = 'incident'
