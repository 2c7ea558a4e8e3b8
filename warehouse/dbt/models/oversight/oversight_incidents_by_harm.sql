{{ config(materialized='table') }}
{#- A table, not a view: an aggregate over every incident, read by its checks and the reports several times a
    night; computed once per build instead. -#}
select
    f.provider_ods,
    coalesce(cur.name, f.provider_ods) as provider_name,
    o.icb_code,
    d.month_start,
    d.month_label as occurred_month,
    ph.code as physical_harm_code,
    ph.label as physical_harm,
    ph.severity_rank as harm_severity_rank,
    ph.is_moderate_or_worse as is_moderate_or_worse_physical,
    f.data_sharing_opt_out,
    count(*) as incidents,
    sum(case when f.is_moderate_or_worse then 1 else 0 end) as moderate_or_worse_incidents
from {{ ref('fct_incident') }} f
join {{ ref('dim_date') }} d on d.date_key = f.occurred_date_key
join {{ ref('dim_physical_harm') }} ph on ph.physical_harm_key = f.physical_harm_key
join {{ ref('dim_organisation') }} o on o.organisation_key = f.organisation_key
{{ current_provider('cur', 'f.provider_ods') }}
group by f.provider_ods, coalesce(cur.name, f.provider_ods), o.icb_code, d.month_start, d.month_label, ph.code,
         ph.label, ph.severity_rank, ph.is_moderate_or_worse, f.data_sharing_opt_out
