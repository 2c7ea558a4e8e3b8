{#- Why: the oversight models inner-join the facts to the dimensions; a fact key with no dimension row (or a
    fan-out from a duplicated one) silently drops or multiplies records in the figures the ICB reads. Every
    oversight model's total must equal the fact it is built on. Returns one row per model whose total differs.
    Each model and fact is read once (one aggregate per relation, the totals side by side). -#}
with incident_totals as materialized (
    select count(*) as incidents,
           count(case when is_moderate_or_worse then 1 end) as moderate_or_worse,
           count(case when never_event_status = 'never_event' then 1 end) as never_events
    from {{ ref('fct_incident') }}
),

by_harm as materialized (
    select sum(incidents) as incidents, sum(moderate_or_worse_incidents) as moderate_or_worse
    from {{ ref('oversight_incidents_by_harm') }}
),

actions as materialized (
    select count(*) as actions from {{ ref('fct_safety_action') }}
),

learning_responses as materialized (
    select count(*) as responses, sum(incidents_covered) as incidents_covered
    from {{ ref('oversight_learning_responses') }}
),

totals as (
    select 'oversight_incidents_by_harm' as model, (select incidents from by_harm) as in_model,
           (select incidents from incident_totals) as in_fact

    union all
    select 'oversight_incidents_by_harm.moderate_or_worse_incidents', (select moderate_or_worse from by_harm),
           (select moderate_or_worse from incident_totals)

    union all
    select 'oversight_reporting_timeliness_monthly',
           (select sum(incidents) from {{ ref('oversight_reporting_timeliness_monthly') }}),
           (select incidents from incident_totals)

    union all
    select 'oversight_duty_of_candour',
           (select count(*) from {{ ref('oversight_duty_of_candour') }}),
           (select moderate_or_worse from incident_totals)

    union all
    select 'oversight_never_events',
           (select count(*) from {{ ref('oversight_never_events') }}),
           (select never_events from incident_totals)

    union all
    select 'oversight_learning_response_coverage',
           (select count(*) from {{ ref('oversight_learning_response_coverage') }}),
           (select incidents from incident_totals)

    union all
    select 'oversight_learning_responses', (select responses from learning_responses),
           (select count(*) from {{ ref('fct_learning_response') }})

    union all
    select 'oversight_learning_responses.incidents_covered', (select incidents_covered from learning_responses),
           (select count(*) from {{ ref('bridge_learning_response_incident') }})

    union all
    select 'oversight_safety_actions',
           (select count(*) from {{ ref('oversight_safety_actions') }}), (select actions from actions)

    union all
    select 'oversight_safety_actions_by_provider',
           (select sum(actions) from {{ ref('oversight_safety_actions_by_provider') }}), (select actions from actions)

    union all
    select 'oversight_harm_inequalities',
           (select sum(patients) from {{ ref('oversight_harm_inequalities') }}),
           (select count(*) from {{ ref('fct_incident_patient') }})
)

select model, cast(in_model as bigint) as in_model, cast(in_fact as bigint) as in_fact
from totals
where coalesce(cast(in_model as bigint), 0) <> cast(in_fact as bigint)
