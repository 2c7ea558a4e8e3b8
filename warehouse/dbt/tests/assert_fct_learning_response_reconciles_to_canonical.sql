{#- Why: fct_learning_response must hold exactly the live canonical learning responses (not deleted upstream).
    Same keys both ways. -#}
with canonical as (
    select learning_response_key from {{ source('canonical', 'learning_response') }} where not is_deleted
),

fact as (
    select learning_response_key from {{ ref('fct_learning_response') }}
)

select
    coalesce(c.learning_response_key, f.learning_response_key) as learning_response_key,
    case when f.learning_response_key is null then 'live canonical learning response missing from fct_learning_response'
         else 'fct_learning_response row that is not a live canonical learning response' end as problem
from canonical c
full outer join fact f on f.learning_response_key = c.learning_response_key
where c.learning_response_key is null or f.learning_response_key is null
