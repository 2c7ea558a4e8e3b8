{#- Why: monthly series, 12-month periods and "as at" figures join through dim_date: a missing day loses the
    facts dated that day from every inner join (and a period from oversight_provider_measures). dim_date must be
    one row per day with no gaps from its first to its last day, cover 1 January of the current year to today,
    carry date keys that are the date as yyyymmdd, and have exactly one unknown member (key 0). -#}
with days as (
    select date_key, calendar_date, year_number, month_number
    from {{ ref('dim_date') }}
    where date_key <> 0
),

bounds as (
    select min(calendar_date) as first_day, max(calendar_date) as last_day, count(*) as days
    from days
)

select cast(d.calendar_date as varchar) as calendar_date, 'the next day is missing' as problem
from days d
cross join bounds b
where d.calendar_date < b.last_day
  and not exists (select 1 from days n where n.calendar_date = d.calendar_date + 1)

union all
select cast(null as varchar), 'row count differs from the number of days between first and last'
from bounds
where days <> (last_day - first_day) + 1

union all
select cast(null as varchar), 'does not cover 1 January of the current year to today'
from bounds
where first_day > cast(date_trunc('year', current_date) as date) or last_day < current_date

union all
select cast(calendar_date as varchar), 'date_key is not the date as yyyymmdd'
from days
where date_key <> cast(extract(year from calendar_date) as integer) * 10000
                  + cast(extract(month from calendar_date) as integer) * 100
                  + cast(extract(day from calendar_date) as integer)
   or year_number <> cast(extract(year from calendar_date) as integer)
   or month_number <> cast(extract(month from calendar_date) as integer)

union all
select cast(null as varchar), 'not exactly one unknown member (date_key 0, no calendar date)'
from (select count(*) as n from {{ ref('dim_date') }} where date_key = 0 and calendar_date is null) u
where n <> 1
