select
    batch_id,
    run_id,
    provider_ods,
    entity,
    dimension,
    batch_status,
    checks_evaluated,
    checks_failed,
    scored_at
from {{ source('canonical', 'dq_dimension_score') }}
