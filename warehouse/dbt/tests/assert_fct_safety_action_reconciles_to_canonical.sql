{#- Why: overdue and system-wide safety actions are what the ICB watches: fct_safety_action must hold exactly the
    live canonical safety actions (not deleted upstream). Same keys both ways. -#}
with canonical as (
    select safety_action_key from {{ source('canonical', 'safety_action') }} where not is_deleted
),

fact as (
    select safety_action_key from {{ ref('fct_safety_action') }}
)

select
    coalesce(c.safety_action_key, f.safety_action_key) as safety_action_key,
    case when f.safety_action_key is null then 'live canonical safety action missing from fct_safety_action'
         else 'fct_safety_action row that is not a live canonical safety action' end as problem
from canonical c
full outer join fact f on f.safety_action_key = c.safety_action_key
where c.safety_action_key is null or f.safety_action_key is null
