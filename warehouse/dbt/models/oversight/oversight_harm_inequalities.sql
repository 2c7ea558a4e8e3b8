{{ config(materialized='table') }}
{#- A table, not a view: an aggregate over every incident, read by its checks and the reports several times a
    night; computed once per build instead. -#}
select
    p.provider_ods,
    coalesce(cur.name, p.provider_ods) as provider_name,
    d.month_start,
    d.month_label as occurred_month,
    e.code as ethnicity_code,
    e.label as ethnicity,
    e.ethnic_group,
    a.age_band,
    a.label as age_bracket,
    g.label as sex,
    p.imd_decile,
    ph.code as physical_harm_code,
    ph.label as physical_harm,
    ph.is_moderate_or_worse,
    f.data_sharing_opt_out,
    count(*) as patients
from {{ ref('fct_incident_patient') }} p
join {{ ref('fct_incident') }} f on f.incident_key = p.incident_key
join {{ ref('dim_date') }} d on d.date_key = p.occurred_date_key
join {{ ref('dim_ethnicity') }} e on e.ethnicity_key = p.ethnicity_key
join {{ ref('dim_age_bracket') }} a on a.age_bracket_key = p.age_bracket_key
join {{ ref('dim_gender') }} g on g.gender_key = p.gender_key
join {{ ref('dim_physical_harm') }} ph on ph.physical_harm_key = p.physical_harm_key
{{ current_provider('cur', 'p.provider_ods') }}
group by p.provider_ods, coalesce(cur.name, p.provider_ods), d.month_start, d.month_label, e.code, e.label,
         e.ethnic_group, a.age_band, a.label, g.label, p.imd_decile, ph.code, ph.label, ph.is_moderate_or_worse,
         f.data_sharing_opt_out
