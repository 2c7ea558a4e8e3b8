{#- The figures every report reads, for reporting periods of twelve complete months (one period ending in every
    month from the first incident to the last complete month), per provider (per_provider) or for the whole
    system: oversight_provider_measures and oversight_system_measures, one definition for both. Shareable records
    only (data-sharing opt-outs left out). The median is exact: percentile_cont computed from the distribution of
    days to report, the mean of the values at positions floor((n+1)/2) and floor(n/2)+1. -#}
{% macro period_measures(per_provider) %}
with incidents as (
    select
        {{ 'f.provider_ods' if per_provider else "'ALL'" }} as provider_ods,
        {{ month_index('f.occurred_date') }} as month_index,
        f.is_moderate_or_worse,
        f.duty_of_candour_status,
        f.never_event_status,
        f.days_to_report,
        c.learning_response_coverage,
        c.has_psii
    from {{ ref('fct_incident') }} f
    join {{ ref('oversight_learning_response_coverage') }} c on c.incident_key = f.incident_key
    where not f.data_sharing_opt_out
),

monthly as (
    select
        provider_ods,
        month_index,
        count(*) as incidents,
        sum(case when is_moderate_or_worse then 1 else 0 end) as moderate_or_worse,
        {%- for status in ['notified', 'not_yet_notified', 'not_recorded'] %}
        sum(case when duty_of_candour_status = '{{ status }}' then 1 else 0 end) as candour_{{ status }},
        {%- endfor %}
        count(days_to_report) as with_reported_date,
        {%- for n in var('timeliness_days') %}
        sum(case when days_to_report <= {{ n }} then 1 else 0 end) as within_{{ n }}_days,
        {%- endfor %}
        sum(case when days_to_report <= {{ var('reporting_target_days') }} then 1 else 0 end) as within_target_days,
        sum(case when never_event_status <> 'not_supplied' then 1 else 0 end) as never_event_flag_supplied,
        sum(case when never_event_status = 'never_event' then 1 else 0 end) as never_events,
        sum(case when never_event_status = 'never_event' and has_psii then 1 else 0 end) as never_events_with_psii,
        sum(case when never_event_status = 'never_event' and learning_response_coverage <> 'supplied' then 1 else 0 end)
            as never_events_without_response,
        {%- for coverage in ['supplied', 'none', 'not_supplied'] %}
        sum(case when learning_response_coverage = '{{ coverage }}' then 1 else 0 end) as response_{{ coverage }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from incidents
    group by provider_ods, month_index
),

histogram as (
    select provider_ods, month_index, days_to_report, count(*) as incidents
    from incidents
    where days_to_report is not null
    group by provider_ods, month_index, days_to_report
),

periods as (
    select p.provider_ods, m.month_index as period_end_index
    from (select provider_ods, min(month_index) as first_month from monthly group by provider_ods) p
    join (select distinct {{ month_index('calendar_date') }} as month_index from {{ ref('dim_date') }}
          where calendar_date < cast(date_trunc('month', current_date) as date)) m
      on m.month_index >= p.first_month
),

totals as (
    select
        p.provider_ods,
        p.period_end_index,
        {%- set columns = ['incidents', 'moderate_or_worse', 'candour_notified', 'candour_not_yet_notified',
                           'candour_not_recorded', 'with_reported_date', 'within_target_days',
                           'never_event_flag_supplied', 'never_events', 'never_events_with_psii',
                           'never_events_without_response', 'response_supplied', 'response_none',
                           'response_not_supplied'] %}
        {%- for n in var('timeliness_days') %}{% do columns.append('within_' ~ n ~ '_days') %}{% endfor %}
        {%- for column in columns %}
        cast(coalesce(sum(m.{{ column }}), 0) as bigint) as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from periods p
    left join monthly m
      on m.provider_ods = p.provider_ods and m.month_index between p.period_end_index - 11 and p.period_end_index
    group by p.provider_ods, p.period_end_index
),

window_histogram as (
    select p.provider_ods, p.period_end_index, h.days_to_report, sum(h.incidents) as incidents
    from periods p
    join histogram h
      on h.provider_ods = p.provider_ods and h.month_index between p.period_end_index - 11 and p.period_end_index
    group by p.provider_ods, p.period_end_index, h.days_to_report
),

cumulative as (
    select
        provider_ods, period_end_index, days_to_report,
        sum(incidents) over (partition by provider_ods, period_end_index order by days_to_report
                             rows between unbounded preceding and current row) as running,
        sum(incidents) over (partition by provider_ods, period_end_index) as total
    from window_histogram
),

medians as (
    select
        provider_ods, period_end_index,
        (min(case when running >= floor((total + 1) / 2.0) then days_to_report end)
         + min(case when running >= floor(total / 2.0) + 1 then days_to_report end)) / 2.0 as median_days_to_report
    from cumulative
    group by provider_ods, period_end_index
)

select
    {%- if per_provider %}
    {{ natural_key(['t.provider_ods', 't.period_end_index']) }} as provider_period_key,
    t.provider_ods,
    coalesce(cur.name, t.provider_ods) as provider_name,
    {%- endif %}
    cast({{ month_start_of('t.period_end_index - 11') }} as date) as period_start,
    cast({{ month_start_of('t.period_end_index') }} as date) as period_end,
    'the 12 months to ' || substr({{ month_start_of('t.period_end_index') }}, 1, 7) as period_label,
    t.incidents,
    t.moderate_or_worse,
    t.candour_notified,
    t.candour_not_yet_notified,
    t.candour_not_recorded,
    {{ share('t.candour_notified + t.candour_not_yet_notified', 't.moderate_or_worse') }} as share_candour_recorded,
    t.with_reported_date,
    cast(md.median_days_to_report as numeric(10, 1)) as median_days_to_report,
    {%- for n in var('timeliness_days') %}
    t.within_{{ n }}_days,
    {{ share('t.within_' ~ n ~ '_days', 't.with_reported_date') }} as share_within_{{ n }}_days,
    {%- endfor %}
    t.within_target_days,
    {{ share('t.within_target_days', 't.with_reported_date') }} as share_within_target_days,
    cast({{ var('reporting_target_days') }} as integer) as reporting_target_days,
    t.never_event_flag_supplied > 0 as never_event_flag_supplied,
    t.never_events,
    t.never_events_with_psii,
    t.never_events_without_response,
    {%- if per_provider %}
    coalesce(s.sends_learning_responses, false) as sends_learning_responses,
    {%- else %}
    t.response_supplied + t.response_none > 0 as sends_learning_responses,
    {%- endif %}
    t.response_supplied as incidents_with_response,
    t.response_none as incidents_without_response,
    t.response_not_supplied as incidents_responses_not_supplied
from totals t
left join medians md on md.provider_ods = t.provider_ods and md.period_end_index = t.period_end_index
{%- if per_provider %}
left join {{ ref('int_provider_data_supply') }} s on s.provider_ods = t.provider_ods
{{ current_provider('cur', 't.provider_ods') }}
{%- endif %}
{% endmacro %}
