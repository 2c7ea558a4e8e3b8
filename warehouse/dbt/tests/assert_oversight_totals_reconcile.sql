{#- Why: the oversight models inner-join the facts to the dimensions; a fact key with no dimension row (or a
    fan-out from a duplicated one) silently drops or multiplies records in the figures the ICB reads. Every
    oversight model's total must equal the fact it is built on. Returns one row per model whose total differs. -#}
with totals as (
    select 'oversight_incidents_by_harm' as model,
           (select sum(incidents) from {{ ref('oversight_incidents_by_harm') }}) as in_model,
           (select count(*) from {{ ref('fct_incident') }}) as in_fact

    union all
    select 'oversight_incidents_by_harm.moderate_or_worse_incidents',
           (select sum(moderate_or_worse_incidents) from {{ ref('oversight_incidents_by_harm') }}),
           (select count(*) from {{ ref('fct_incident') }} where is_moderate_or_worse)

    union all
    select 'oversight_reporting_timeliness_monthly',
           (select sum(incidents) from {{ ref('oversight_reporting_timeliness_monthly') }}),
           (select count(*) from {{ ref('fct_incident') }})

    union all
    select 'oversight_duty_of_candour',
           (select count(*) from {{ ref('oversight_duty_of_candour') }}),
           (select count(*) from {{ ref('fct_incident') }} where is_moderate_or_worse)

    union all
    select 'oversight_never_events',
           (select count(*) from {{ ref('oversight_never_events') }}),
           (select count(*) from {{ ref('fct_incident') }} where never_event_status = 'never_event')

    union all
    select 'oversight_learning_response_coverage',
           (select count(*) from {{ ref('oversight_learning_response_coverage') }}),
           (select count(*) from {{ ref('fct_incident') }})

    union all
    select 'oversight_learning_responses',
           (select count(*) from {{ ref('oversight_learning_responses') }}),
           (select count(*) from {{ ref('fct_learning_response') }})

    union all
    select 'oversight_learning_responses.incidents_covered',
           (select sum(incidents_covered) from {{ ref('oversight_learning_responses') }}),
           (select count(*) from {{ ref('bridge_learning_response_incident') }})

    union all
    select 'oversight_safety_actions',
           (select count(*) from {{ ref('oversight_safety_actions') }}),
           (select count(*) from {{ ref('fct_safety_action') }})

    union all
    select 'oversight_safety_actions_by_provider',
           (select sum(actions) from {{ ref('oversight_safety_actions_by_provider') }}),
           (select count(*) from {{ ref('fct_safety_action') }})

    union all
    select 'oversight_harm_inequalities',
           (select sum(patients) from {{ ref('oversight_harm_inequalities') }}),
           (select count(*) from {{ ref('fct_incident_patient') }})
)

select model, cast(in_model as bigint) as in_model, cast(in_fact as bigint) as in_fact
from totals
where coalesce(cast(in_model as bigint), 0) <> cast(in_fact as bigint)
