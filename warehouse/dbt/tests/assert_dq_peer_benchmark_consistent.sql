{#- Why: the peer benchmark is what a provider reads its scores against. Its quantiles must be ordered
    (p25 <= median <= p75) and within 0-100, withheld exactly when fewer than min_peers providers were scored, and
    its provider count must equal the providers fct_dq_dimension_score has a score for in the dimension. -#}
with expected as (
    select dimension, count(distinct provider_ods) as providers
    from {{ ref('fct_dq_dimension_score') }}
    where score is not null
    group by dimension
)

select b.dimension, b.providers, e.providers as expected_providers, b.p25_score, b.median_score, b.p75_score
from {{ ref('fct_dq_peer_benchmark') }} b
left join expected e on e.dimension = b.dimension
where e.providers is null
   or b.providers <> e.providers
   or (b.median_score is null) <> (b.providers < b.min_peers)
   or b.p25_score > b.median_score
   or b.median_score > b.p75_score
   or b.p25_score < 0
   or b.p75_score > 100
