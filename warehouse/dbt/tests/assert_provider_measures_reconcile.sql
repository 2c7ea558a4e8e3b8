{#- Why: oversight_provider_measures is the one source of the Duty of Candour, timeliness, Never Event and
    learning-response figures in every report, and it builds its 12-month totals from monthly sums and its median
    from a histogram. Recomputed here another way, straight from fct_incident (shareable records only: not
    data_sharing_opt_out): each incident is counted in the twelve periods its month belongs to (by date
    arithmetic, not the model's month index), every count must be equal; and the median must be the one its
    definition gives from the period's own days-to-report, the mean of the values at positions floor((n+1)/2) and
    floor(n/2)+1 in order (as percentile_cont(0.5)), each position found by counting the incidents at or below each
    value (a self-join, not the model's running window sum); tolerance 0, after the model's one decimal place.
    Counting per month first keeps it to one pass over the incidents: percentile_cont over every incident of
    every twelve-month period sorts twelve copies of the fact. Returns one row per provider, period and column
    that differs. -#}
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

monthly as materialized (
    select
        provider_ods,
        occurred_month,
        count(*) as incidents,
        count(case when is_moderate_or_worse then 1 end) as moderate_or_worse,
        count(case when duty_of_candour_status = 'notified' then 1 end) as candour_notified,
        count(case when duty_of_candour_status = 'not_yet_notified' then 1 end) as candour_not_yet_notified,
        count(case when duty_of_candour_status = 'not_recorded' then 1 end) as candour_not_recorded,
        count(days_to_report) as with_reported_date,
        {%- for n in timeliness %}
        count(case when days_to_report <= {{ n }} then 1 end) as within_{{ n }}_days,
        {%- endfor %}
        count(case when days_to_report <= {{ var('reporting_target_days') }} then 1 end) as within_target_days,
        count(case when never_event_status = 'never_event' then 1 end) as never_events,
        count(case when never_event_status = 'never_event' and has_psii then 1 end) as never_events_with_psii,
        count(case when never_event_status = 'never_event' and learning_response_coverage <> 'supplied' then 1 end)
            as never_events_without_response,
        count(case when never_event_status <> 'not_supplied' then 1 end) as never_event_flag_supplied,
        count(case when learning_response_coverage = 'supplied' then 1 end) as incidents_with_response,
        count(case when learning_response_coverage = 'none' then 1 end) as incidents_without_response,
        count(case when learning_response_coverage = 'not_supplied' then 1 end) as incidents_responses_not_supplied
    from incidents
    group by provider_ods, occurred_month
),

days_histogram as materialized (
    select provider_ods, occurred_month, days_to_report, count(*) as incidents
    from incidents
    where days_to_report is not null
    group by provider_ods, occurred_month, days_to_report
),

-- A month belongs to the twelve periods that end in it and in each of the eleven months after it.
months_after as (
    {%- for k in range(12) %}
    select {{ k }} as months{% if not loop.last %} union all{% endif %}
    {%- endfor %}
),

{%- set counted = ['incidents', 'moderate_or_worse', 'candour_notified', 'candour_not_yet_notified',
                   'candour_not_recorded', 'with_reported_date', 'within_target_days', 'never_events',
                   'never_events_with_psii', 'never_events_without_response', 'incidents_with_response',
                   'incidents_without_response', 'incidents_responses_not_supplied'] %}
{%- for n in timeliness %}{% do counted.append('within_' ~ n ~ '_days') %}{% endfor %}

period_counts as (
    select
        mo.provider_ods,
        cast(mo.occurred_month + a.months * interval '1 month' as date) as period_end,
        {%- for column in counted %}
        sum(mo.{{ column }}) as {{ column }},
        {%- endfor %}
        sum(mo.never_event_flag_supplied) > 0 as never_event_flag_supplied
    from monthly mo
    cross join months_after a
    group by mo.provider_ods, cast(mo.occurred_month + a.months * interval '1 month' as date)
),

period_days as (
    select
        h.provider_ods,
        cast(h.occurred_month + a.months * interval '1 month' as date) as period_end,
        h.days_to_report,
        sum(h.incidents) as incidents
    from days_histogram h
    cross join months_after a
    group by h.provider_ods, cast(h.occurred_month + a.months * interval '1 month' as date), h.days_to_report
),

-- For each value: how many of the period's incidents are at or below it.
at_or_below as (
    select v.provider_ods, v.period_end, v.days_to_report, sum(w.incidents) as incidents_at_or_below
    from period_days v
    join period_days w
      on w.provider_ods = v.provider_ods and w.period_end = v.period_end and w.days_to_report <= v.days_to_report
    group by v.provider_ods, v.period_end, v.days_to_report
),

positions as (
    select provider_ods, period_end, sum(incidents) as n from period_days group by provider_ods, period_end
),

-- The value at position k is the smallest value with at least k incidents at or below it.
period_medians as (
    select
        p.provider_ods,
        p.period_end,
        (min(case when b.incidents_at_or_below >= floor((p.n + 1) / 2.0) then b.days_to_report end)
         + min(case when b.incidents_at_or_below >= floor(p.n / 2.0) + 1 then b.days_to_report end)) / 2.0
            as median_days_to_report
    from positions p
    join at_or_below b on b.provider_ods = p.provider_ods and b.period_end = p.period_end
    group by p.provider_ods, p.period_end
),

recomputed as materialized (
    select
        m.provider_ods,
        m.period_end,
        {%- for column in counted %}
        coalesce(c.{{ column }}, 0) as {{ column }},
        {%- endfor %}
        coalesce(c.never_event_flag_supplied, false) as never_event_flag_supplied,
        cast(md.median_days_to_report as numeric(10, 1)) as median_days_to_report
    from measures m
    left join period_counts c on c.provider_ods = m.provider_ods and c.period_end = m.period_end
    left join period_medians md on md.provider_ods = m.provider_ods and md.period_end = m.period_end
),

compared as (
    {%- for column in counted %}
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
