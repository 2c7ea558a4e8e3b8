select
    batch_id,
    coalesce(run_id, batch_id) as load_id,
    run_id,
    provider_ods,
    entity,
    source_file,
    status,
    rows_in,
    loaded,
    quarantined,
    duplicates,
    started_at,
    finished_at
from {{ source('canonical', 'batch_ledger') }}
