{#- Grain: one row per calendar day, continuous from the earliest to the latest date any fact uses (and at least
    the current year), plus 0 = unknown. NHS financial years run April to March. -#}
with used as (
    -- One pass per fact (least/greatest skip NULLs on both engines).
    select least(min(occurred_date), min(reported_date), min(duty_of_candour_notified_date)) as lo,
           greatest(max(occurred_date), max(reported_date), max(duty_of_candour_notified_date)) as hi
    from {{ ref('fct_incident') }}
    union all select min(occurred_date), max(occurred_date) from {{ ref('fct_other_safety_event') }}
    union all select least(min(effective_due_date), min(completed_date)),
                     greatest(max(effective_due_date), max(completed_date)) from {{ ref('fct_safety_action') }}
    union all select least(min(commissioned_date), min(completed_date)),
                     greatest(max(commissioned_date), max(completed_date)) from {{ ref('fct_learning_response') }}
    union all select cast(date_trunc('year', current_date) as date), cast(current_date as date)
),

days as (
    select cast(g.d as date) as calendar_date
    from generate_series((select cast(min(lo) as timestamp) from used), (select cast(max(hi) as timestamp) from used),
                         interval '1 day') as g(d)
),

parts as (
    select
        calendar_date,
        cast(extract(year from calendar_date) as integer) as year_number,
        cast(extract(month from calendar_date) as integer) as month_number
    from days
)

select
    {{ date_key('calendar_date') }} as date_key,
    calendar_date,
    year_number,
    month_number,
    cast(date_trunc('month', calendar_date) as date) as month_start,
    cast(year_number as varchar) || '-' || lpad(cast(month_number as varchar), 2, '0') as month_label,
    cast(case when month_number >= 4 then year_number else year_number - 1 end as varchar) || '/'
        || lpad(cast(mod(case when month_number >= 4 then year_number else year_number - 1 end + 1, 100) as varchar),
                2, '0') as financial_year,
    cast(extract(isodow from calendar_date) as integer) as iso_day_of_week
from parts
union all
select 0, null, null, null, null, 'unknown', 'unknown', null
