{#- Why: oversight_provider_measures is the one source of the Duty of Candour, timeliness, Never Event and
    learning-response figures in every report, and it builds its 12-month totals from monthly sums and its median
    from a histogram. Recomputed here the plain way, straight from fct_incident (shareable records only: not
    data_sharing_opt_out) over the twelve months of each period: every count must be equal, and the median must
    equal percentile_cont(0.5) over the incidents themselves (tolerance 0, after the model's one decimal place).
    Returns one row per provider, period and column that differs. -#}
{%- set timeliness = var('timeliness_days') %}
with measures as (
    select * from {{ ref('oversight_provider_measures') }}
),

incidents as (
    select
        f.provider_ods, cast(date_trunc('month', f.occurred_date) as date) as occurred_month, f.is_moderate_or_worse,
        f.duty_of_candour_status, f.never_event_status, f.days_to_report, c.learning_response_coverage, c.has_psii
    from {{ ref('fct_incident') }} f
    join {{ ref('oversight_learning_response_coverage') }} c on c.incident_key = f.incident_key
    where not f.data_sharing_opt_out
),

-- Each incident counts in the twelve periods ending in its month and the eleven months after: an equi-join on
-- (provider, period end), so every incident meets only its own twelve periods, not every period of its provider.
months_after as (
    {%- for k in range(12) %}
    select {{ k }} as months{% if not loop.last %} union all{% endif %}
    {%- endfor %}
),

incident_periods as (
    select i.*, cast(i.occurred_month + m.months * interval '1 month' as date) as period_end
    from incidents i
    cross join months_after m
),

recomputed as materialized (
    select
        m.provider_ods,
        m.period_end,
        count(i.provider_ods) as incidents,
        count(case when i.is_moderate_or_worse then 1 end) as moderate_or_worse,
        count(case when i.duty_of_candour_status = 'notified' then 1 end) as candour_notified,
        count(case when i.duty_of_candour_status = 'not_yet_notified' then 1 end) as candour_not_yet_notified,
        count(case when i.duty_of_candour_status = 'not_recorded' then 1 end) as candour_not_recorded,
        count(i.days_to_report) as with_reported_date,
        {%- for n in timeliness %}
        count(case when i.days_to_report <= {{ n }} then 1 end) as within_{{ n }}_days,
        {%- endfor %}
        count(case when i.days_to_report <= m.reporting_target_days then 1 end) as within_target_days,
        count(case when i.never_event_status = 'never_event' then 1 end) as never_events,
        count(case when i.never_event_status = 'never_event' and i.has_psii then 1 end) as never_events_with_psii,
        count(case when i.never_event_status = 'never_event' and i.learning_response_coverage <> 'supplied' then 1 end)
            as never_events_without_response,
        count(case when i.never_event_status <> 'not_supplied' then 1 end) > 0 as never_event_flag_supplied,
        count(case when i.learning_response_coverage = 'supplied' then 1 end) as incidents_with_response,
        count(case when i.learning_response_coverage = 'none' then 1 end) as incidents_without_response,
        count(case when i.learning_response_coverage = 'not_supplied' then 1 end) as incidents_responses_not_supplied,
        cast(percentile_cont(0.5) within group (order by i.days_to_report) as numeric(10, 1)) as median_days_to_report
    from measures m
    left join incident_periods i on i.provider_ods = m.provider_ods and i.period_end = m.period_end
    group by m.provider_ods, m.period_end
),

{%- set columns = ['incidents', 'moderate_or_worse', 'candour_notified', 'candour_not_yet_notified',
                   'candour_not_recorded', 'with_reported_date', 'within_target_days', 'never_events',
                   'never_events_with_psii', 'never_events_without_response', 'incidents_with_response',
                   'incidents_without_response', 'incidents_responses_not_supplied'] %}
{%- for n in timeliness %}{% do columns.append('within_' ~ n ~ '_days') %}{% endfor %}

compared as (
    {%- for column in columns %}
    select m.provider_ods, m.period_end, '{{ column }}' as measure,
           cast(m.{{ column }} as varchar) as in_model, cast(r.{{ column }} as varchar) as recomputed
    from measures m
    join recomputed r on r.provider_ods = m.provider_ods and r.period_end = m.period_end
    where cast(m.{{ column }} as bigint) is distinct from cast(r.{{ column }} as bigint)
    union all
    {%- endfor %}
    select m.provider_ods, m.period_end, 'never_event_flag_supplied',
           cast(m.never_event_flag_supplied as varchar), cast(r.never_event_flag_supplied as varchar)
    from measures m
    join recomputed r on r.provider_ods = m.provider_ods and r.period_end = m.period_end
    where m.never_event_flag_supplied is distinct from r.never_event_flag_supplied
    union all
    select m.provider_ods, m.period_end, 'median_days_to_report',
           cast(m.median_days_to_report as varchar), cast(r.median_days_to_report as varchar)
    from measures m
    join recomputed r on r.provider_ods = m.provider_ods and r.period_end = m.period_end
    where m.median_days_to_report is distinct from r.median_days_to_report
    union all
    select m.provider_ods, m.period_end, 'period_start',
           cast(m.period_start as varchar), cast(cast(m.period_end - interval '11 months' as date) as varchar)
    from measures m
    where m.period_start <> cast(m.period_end - interval '11 months' as date)
)

select * from compared
