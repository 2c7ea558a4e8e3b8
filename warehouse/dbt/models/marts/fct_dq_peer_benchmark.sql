{#- Grain: one row per data-quality dimension: the ICB-wide peer benchmark the providers' feedback reports compare
    each score with.

    Per dimension, every provider's score in its latest load that was scored in that dimension (fct_dq_dimension_score,
    the one definition of a score: rejected files never count), then the median and the interquartile range
    (25th and 75th percentiles, continuous) across those providers. Peers are never named: the model holds no
    provider code, only the spread, so it carries no row-level security and every login may read it. With fewer
    than `min_peers` providers scored the quantiles are NULL: one or two values would as good as name them. -#}
{% set min_peers = 3 %}
with scored as (
    select
        provider_ods,
        dimension,
        load_id,
        loaded_at,
        score,
        row_number() over (partition by provider_ods, dimension order by loaded_at desc, load_id desc) as recency
    from {{ ref('fct_dq_dimension_score') }}
    where score is not null
),

latest as (
    select * from scored where recency = 1
),

spread as (
    select
        dimension,
        count(*) as providers,
        percentile_cont(0.25) within group (order by score) as p25,
        percentile_cont(0.5) within group (order by score) as p50,
        percentile_cont(0.75) within group (order by score) as p75,
        max(loaded_at) as latest_load_at
    from latest
    group by dimension
)

select
    dimension,
    cast(providers as integer) as providers,
    {{ min_peers }} as min_peers,
    case when providers >= {{ min_peers }} then round(cast(p25 as numeric(18, 6)), 2) end as p25_score,
    case when providers >= {{ min_peers }} then round(cast(p50 as numeric(18, 6)), 2) end as median_score,
    case when providers >= {{ min_peers }} then round(cast(p75 as numeric(18, 6)), 2) end as p75_score,
    latest_load_at
from spread
