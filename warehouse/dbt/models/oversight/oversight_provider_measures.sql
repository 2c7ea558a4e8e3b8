{{ config(materialized='table') }}
{#- Grain: one row per provider and reporting period: the twelve complete months of occurred dates ending with
    period_end (one period ending in every month, from the provider's first incident to the last complete month).

    The figures every report reads: the system report, each provider's feedback report and `psirf quality scores`
    take their Duty of Candour, timeliness, Never Event and learning-response figures from here, never computing
    their own. Shareable records only: incidents whose patient opted out of data sharing (LFPSE) are left out, as
    from every output shared beyond the ICB. Counts are exact: small-number suppression belongs to the outputs. -#}
{{ period_measures(per_provider=true) }}
