{{ config(materialized='table') }}
{#- A table, not a view: an aggregate over every incident, read by its checks and the reports several times a
    night; computed once per build instead. -#}
{#- Reporting timeliness per provider and occurred month: days from occurring to being reported. Counts within N
    days can be added across months; medians cannot (oversight_provider_measures has the figure per provider). -#}
select
    f.provider_ods,
    coalesce(cur.name, f.provider_ods) as provider_name,
    d.month_start,
    d.month_label as occurred_month,
    f.data_sharing_opt_out,
    count(*) as incidents,
    count(f.days_to_report) as with_reported_date,
    percentile_cont(0.5) within group (order by f.days_to_report) as median_days_to_report,
    {%- for n in var('timeliness_days') %}
    sum(case when f.days_to_report <= {{ n }} then 1 else 0 end) as within_{{ n }}_days,
    {{ share('sum(case when f.days_to_report <= ' ~ n ~ ' then 1 else 0 end)', 'count(f.days_to_report)') }}
        as share_within_{{ n }}_days,
    {%- endfor %}
    sum(case when f.days_to_report <= {{ var('reporting_target_days') }} then 1 else 0 end) as within_target_days,
    {{ share('sum(case when f.days_to_report <= ' ~ var('reporting_target_days') ~ ' then 1 else 0 end)',
             'count(f.days_to_report)') }} as share_within_target_days
from {{ ref('fct_incident') }} f
join {{ ref('dim_date') }} d on d.date_key = f.occurred_date_key
{{ current_provider('cur', 'f.provider_ods') }}
group by f.provider_ods, coalesce(cur.name, f.provider_ods), d.month_start, d.month_label, f.data_sharing_opt_out
