{#- Why: the data-quality score is the one definition the providers' feedback report and `psirf quality scores`
    read: it must lie between 0 and 100, count no more failures than checks and no more rejected batches than
    batches, be NULL exactly when nothing was assessed, and equal 100 x passed / evaluated to two decimal places
    (tolerance 0.01, for engines that round a decimal twice). -#}
select
    dq_score_key, provider_ods, load_id, dimension, checks_evaluated, checks_failed, score,
    batches, batches_rejected
from {{ ref('fct_dq_dimension_score') }}
where score < 0 or score > 100
   or checks_failed > checks_evaluated
   or checks_failed < 0
   or batches_rejected > batches
   or (score is null) <> (checks_evaluated = 0)
   or abs(score - 100.0 * (checks_evaluated - checks_failed) / nullif(checks_evaluated, 0)) > 0.01
