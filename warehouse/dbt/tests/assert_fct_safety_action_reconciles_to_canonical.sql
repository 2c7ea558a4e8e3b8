{#- Why: overdue and system-wide safety actions are what the ICB watches: fct_safety_action must hold exactly the
    live canonical safety actions (not deleted upstream). Same keys both ways.
    Nightly, only the actions changed since the test's last pass (macros/check_scope.sql). -#}
{{ config(meta={'scoped_check': true}) }}
{%- set since = psirf_checks_since(model.unique_id) %}
with
{{ psirf_changed_cte(since, 'safety_action_key', [(source('canonical', 'safety_action'), 'updated_at'), (ref('fct_safety_action'), 'canonical_updated_at')]) }}
canonical as (
    select safety_action_key from {{ source('canonical', 'safety_action') }} where not is_deleted and {{ psirf_in_changed('safety_action_key', since) }}
),

fact as (
    select safety_action_key from {{ ref('fct_safety_action') }} where {{ psirf_in_changed('safety_action_key', since) }}
)

select
    coalesce(c.safety_action_key, f.safety_action_key) as safety_action_key,
    case when f.safety_action_key is null then 'live canonical safety action missing from fct_safety_action'
         else 'fct_safety_action row that is not a live canonical safety action' end as problem
from canonical c
full outer join fact f on f.safety_action_key = c.safety_action_key
where c.safety_action_key is null or f.safety_action_key is null
