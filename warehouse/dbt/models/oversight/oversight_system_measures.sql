{{ config(materialized='table') }}
{#- Grain: one row per reporting period (twelve complete months ending with period_end): the same figures as
    oversight_provider_measures, over every provider at once (the system report's totals). -#}
{{ period_measures(per_provider=false) }}
