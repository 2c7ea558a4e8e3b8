{#- Grain: one row per provider, load (an Airflow run, or a single CLI batch) and data-quality dimension.

    The one definition of a data-quality score, read by the feedback report's tiles and trend and by
    `psirf quality scores`: 100 x (checks passed / checks evaluated), pooled over the load's batches that were
    assessed and loaded. A rejected file is counted apart (batches_rejected) and does not drag the score: its rows
    were never assessed row by row. NULL when nothing in the dimension was assessed. -#}
with scores as (
    select s.*, b.load_id, b.finished_at
    from {{ ref('stg_canonical__dq_dimension_scores') }} s
    join {{ ref('stg_canonical__batches') }} b on b.batch_id = s.batch_id
)

select
    {{ natural_key(['provider_ods', 'load_id', 'dimension']) }} as dq_score_key,
    provider_ods,
    load_id,
    dimension,
    min(scored_at) as loaded_at,
    count(distinct batch_id) as batches,
    count(distinct case when batch_status = 'rejected' then batch_id end) as batches_rejected,
    sum(case when batch_status = 'loaded' then checks_evaluated else 0 end) as checks_evaluated,
    sum(case when batch_status = 'loaded' then checks_failed else 0 end) as checks_failed,
    round(cast(100.0 * (sum(case when batch_status = 'loaded' then checks_evaluated else 0 end)
                        - sum(case when batch_status = 'loaded' then checks_failed else 0 end))
               / nullif(sum(case when batch_status = 'loaded' then checks_evaluated else 0 end), 0)
               as numeric(18, 6)), 2) as score
from scores
group by provider_ods, load_id, dimension
