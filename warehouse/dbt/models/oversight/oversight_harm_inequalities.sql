{{ config(materialized='table') }}
{#- A table, not a view: an aggregate over every incident, read by its checks and the reports several times a
    night; computed once per build instead. -#}
-- Counted by the facts' keys first (one pass over the patients), then labelled: the dimensions join a few thousand
-- counts, not every patient.
with counted as (
    select
        p.provider_ods,
        cast(floor(p.occurred_date_key / 100.0) as integer) as occurred_month_key,
        p.ethnicity_key,
        p.age_bracket_key,
        p.gender_key,
        p.imd_decile,
        p.physical_harm_key,
        f.data_sharing_opt_out,
        count(*) as patients
    from {{ ref('fct_incident_patient') }} p
    join {{ ref('fct_incident') }} f on f.incident_key = p.incident_key
    group by p.provider_ods, cast(floor(p.occurred_date_key / 100.0) as integer), p.ethnicity_key, p.age_bracket_key,
             p.gender_key, p.imd_decile, p.physical_harm_key, f.data_sharing_opt_out
),

months as (
    select distinct cast(floor(date_key / 100.0) as integer) as month_key, month_start, month_label
    from {{ ref('dim_date') }}
)

select
    c.provider_ods,
    coalesce(cur.name, c.provider_ods) as provider_name,
    d.month_start,
    d.month_label as occurred_month,
    e.code as ethnicity_code,
    e.label as ethnicity,
    e.ethnic_group,
    a.age_band,
    a.label as age_bracket,
    g.label as sex,
    c.imd_decile,
    ph.code as physical_harm_code,
    ph.label as physical_harm,
    ph.is_moderate_or_worse,
    c.data_sharing_opt_out,
    cast(sum(c.patients) as bigint) as patients
from counted c
join months d on d.month_key = c.occurred_month_key
join {{ ref('dim_ethnicity') }} e on e.ethnicity_key = c.ethnicity_key
join {{ ref('dim_age_bracket') }} a on a.age_bracket_key = c.age_bracket_key
join {{ ref('dim_gender') }} g on g.gender_key = c.gender_key
join {{ ref('dim_physical_harm') }} ph on ph.physical_harm_key = c.physical_harm_key
{{ current_provider('cur', 'c.provider_ods') }}
group by c.provider_ods, coalesce(cur.name, c.provider_ods), d.month_start, d.month_label, e.code, e.label,
         e.ethnic_group, a.age_band, a.label, g.label, c.imd_decile, ph.code, ph.label, ph.is_moderate_or_worse,
         c.data_sharing_opt_out
