{#- Why: learning-response coverage (and "Never Events without a response") is read from the bridge: it must
    hold exactly the canonical (learning response, incident) links whose response is live and whose incident is
    a live incident. The bridge is incremental by both parents, so a change to one side must neither keep a
    pair that left nor drop the other pairs of that response or incident. Same pairs both ways. -#}
with canonical as (
    select l.learning_response_key, l.incident_key
    from {{ source('canonical', 'learning_response_incident') }} l
    join {{ source('canonical', 'learning_response') }} r
      on r.learning_response_key = l.learning_response_key and not r.is_deleted
    join {{ source('canonical', 'incident') }} i
      on i.incident_key = l.incident_key and not i.is_deleted and coalesce(i.event_type_code, 'incident') = 'incident'
     and i.record_origin = 'local'
),

bridge as (
    select learning_response_key, incident_key from {{ ref('bridge_learning_response_incident') }}
)

select
    coalesce(c.learning_response_key, b.learning_response_key) as learning_response_key,
    coalesce(c.incident_key, b.incident_key) as incident_key,
    case when b.learning_response_key is null then 'live canonical link missing from the bridge'
         else 'bridge pair that is not a live canonical link' end as problem
from canonical c
full outer join bridge b
  on b.learning_response_key = c.learning_response_key and b.incident_key = c.incident_key
where c.learning_response_key is null or b.learning_response_key is null
