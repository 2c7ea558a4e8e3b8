{#- Why: the Duty of Candour (Regulation 20) is notifiable on every incident with moderate or worse harm, so on
    such an incident a blank or a "No" is a compliance finding (not_recorded), never "not applicable"; below
    moderate it is not_applicable. A status that drifts from this rule hides findings from the ICB. The expected
    status is recomputed here from the canonical record (what the source said), not from the model's logic.
    Only incidents carry a status: outcomes, risks and good care must carry none.
    Returns one row per offending incident and problem. One pass over the fact: each rule is a column, and only
    the incidents breaking one are kept.
    Nightly, only the records changed since the test's last pass (macros/check_scope.sql). -#}
{{ config(meta={'scoped_check': true}) }}
{%- set since = psirf_checks_since(model.unique_id) %}
with
{{ psirf_changed_cte(since, 'incident_key', [(source('canonical', 'incident'), 'updated_at'), (ref('int_incident_measures'), 'canonical_updated_at'), (ref('fct_incident'), 'canonical_updated_at')]) }}
statuses as (
    select code, count(*) as members from {{ ref('dim_duty_of_candour_status') }} group by code
),

fact as (
    select
        f.incident_key,
        f.is_moderate_or_worse,
        f.duty_of_candour_status,
        f.duty_of_candour_recorded,
        f.duty_of_candour_notified_date,
        i.duty_of_candour as source_duty,
        i.duty_of_candour_notified_date as source_notified_date,
        coalesce(s.members, 0) as statuses
    from {{ ref('fct_incident') }} f
    left join {{ source('canonical', 'incident') }} i on i.incident_key = f.incident_key
    left join statuses s on s.code = f.duty_of_candour_status
    where {{ psirf_in_changed('f.incident_key', since) }}
),

expected as (
    select
        f.*,
        case when not f.is_moderate_or_worse then 'not_applicable'
             when f.source_duty is true and f.source_notified_date is not null then 'notified'
             when f.source_duty is true then 'not_yet_notified'
             else 'not_recorded' end as expected_status
    from fact f
),

checked as (
    select
        incident_key,
        expected_status,
        statuses <> 1 as not_one_status,
        is_moderate_or_worse and coalesce(duty_of_candour_status, 'not_applicable') = 'not_applicable'
            as moderate_not_applicable,
        not is_moderate_or_worse and duty_of_candour_status is distinct from 'not_applicable' as below_not_applicable,
        is_moderate_or_worse and (source_duty is null or source_duty = false)
            and duty_of_candour_status is distinct from 'not_recorded' as no_or_blank_not_recorded,
        duty_of_candour_status is distinct from expected_status as differs_from_source,
        duty_of_candour_recorded is distinct from source_duty as recorded_differs,
        (duty_of_candour_notified_date is not null) <> (coalesce(duty_of_candour_status, '') = 'notified')
            as date_without_notified
    from expected
),

problems as materialized (
    select * from checked
    where not_one_status or moderate_not_applicable or below_not_applicable or no_or_blank_not_recorded
       or differs_from_source or recorded_differs or date_without_notified
)

{%- set rules = [
    ('not_one_status', "'not exactly one Duty of Candour status in dim_duty_of_candour_status'"),
    ('moderate_not_applicable', "'moderate or worse harm but not_applicable (or no status)'"),
    ('below_not_applicable', "'harm below moderate (or not graded) but not not_applicable'"),
    ('no_or_blank_not_recorded', "'moderate or worse harm, source recorded No or blank, but not not_recorded'"),
    ('differs_from_source',
     "'status differs from the one the canonical record implies (' || expected_status || ')'"),
    ('recorded_differs', "'duty_of_candour_recorded differs from the source'"),
    ('date_without_notified', "'a notification date without status notified, or notified without a date'"),
] %}
{% for column, problem in rules %}
select incident_key, {{ problem }} as problem from problems where {{ column }}
union all
{%- endfor %}
select incident_key, 'a record that is not an incident carries a Duty of Candour or Never Event status'
from {{ ref('int_incident_measures') }}
where {{ psirf_in_changed('incident_key', since) }}
  and not is_incident and (duty_of_candour_status is not null or never_event_status is not null)
