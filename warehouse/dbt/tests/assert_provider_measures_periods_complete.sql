{#- Why: a report that asks for "the 12 months to M" must find a row for every provider with shareable incidents
    and every month M from its first such incident to the last complete month, and no row for a month not yet
    complete: a missing period reads as "no figures" rather than zero. -#}
with first_months as (
    select provider_ods, cast(date_trunc('month', min(occurred_date)) as date) as first_month
    from {{ ref('fct_incident') }}
    where not data_sharing_opt_out
    group by provider_ods
),

complete_months as (
    select distinct month_start
    from {{ ref('dim_date') }}
    where date_key <> 0 and calendar_date < cast(date_trunc('month', current_date) as date)
),

expected as (
    select p.provider_ods, m.month_start as period_end
    from first_months p
    join complete_months m on m.month_start >= p.first_month
),

actual as (
    select provider_ods, period_end from {{ ref('oversight_provider_measures') }}
)

select
    coalesce(e.provider_ods, a.provider_ods) as provider_ods,
    coalesce(e.period_end, a.period_end) as period_end,
    case when a.provider_ods is null then 'period missing from oversight_provider_measures'
         else 'period that should not be there (before the first incident, or not complete)' end as problem
from expected e
full outer join actual a on a.provider_ods = e.provider_ods and a.period_end = e.period_end
where e.provider_ods is null or a.provider_ods is null
