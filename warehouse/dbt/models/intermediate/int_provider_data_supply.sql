{#- What each provider's feeds supply, so that "none" and "not supplied" are never confused: a provider that sends
    no learning responses is not a provider whose incidents had none. Learned from the data itself (what has been
    loaded), not from configuration: one row per provider that has any batch in the ledger. -#}
with providers as (
    select provider_ods, max(finished_at) as last_batch_at
    from {{ ref('stg_canonical__batches') }}
    group by provider_ods
),

loaded_entities as (
    select
        provider_ods,
        max(case when entity = 'incidents' then 1 else 0 end) = 1 as sends_incidents,
        max(case when entity = 'learning_responses' then 1 else 0 end) = 1 as sends_learning_responses,
        max(case when entity = 'safety_actions' then 1 else 0 end) = 1 as sends_safety_actions
    from {{ ref('stg_canonical__batches') }}
    where status = 'loaded'
    group by provider_ods
),

national_feeds as (
    select distinct feed_ods as provider_ods
    from {{ ref('stg_canonical__lfpse_national_incidents') }}
),

incident_fields as (
    select
        provider_ods,
        count(never_event) > 0 as sends_never_event_flag,
        count(duty_of_candour) > 0 as sends_duty_of_candour,
        count(duty_of_candour_notified_date) > 0 as sends_candour_notification_date
    from {{ ref('stg_canonical__incidents') }}
    where event_type_code = 'incident' and not is_deleted
    group by provider_ods
)

select
    p.provider_ods,
    coalesce(e.sends_incidents, false) as sends_incidents,
    coalesce(e.sends_learning_responses, false) as sends_learning_responses,
    coalesce(e.sends_safety_actions, false) as sends_safety_actions,
    coalesce(f.sends_never_event_flag, false) as sends_never_event_flag,
    coalesce(f.sends_duty_of_candour, false) as sends_duty_of_candour,
    coalesce(f.sends_candour_notification_date, false) as sends_candour_notification_date,
    p.last_batch_at,
    case when n.provider_ods is not null then 'lfpse_national' else 'local' end as record_origin
from providers p
left join loaded_entities e on e.provider_ods = p.provider_ods
left join incident_fields f on f.provider_ods = p.provider_ods
left join national_feeds n on n.provider_ods = p.provider_ods
