{{ config(materialized='table') }}
{#- Reconciliation counts per provider and month of occurrence (oversight_lfpse_reconciliation), with the
    submission completeness of the month: of the local incidents past the submission window, the share that
    reached LFPSE. -#}
select
    provider_ods,
    min(provider_name) as provider_name,
    month_start,
    sum(case when local_incident_key is not null then 1 else 0 end) as local_incidents,
    sum(case when reconciliation_status = 'matched' then 1 else 0 end) as matched,
    sum(case when match_method = 'reference' then 1 else 0 end) as matched_by_reference,
    sum(case when match_method = 'score' then 1 else 0 end) as matched_by_score,
    sum(case when is_submitted_late then 1 else 0 end) as submitted_late,
    sum(case when reconciliation_status = 'local_only_within_window' then 1 else 0 end) as local_only_within_window,
    sum(case when reconciliation_status = 'local_only_past_window' then 1 else 0 end) as local_only_past_window,
    sum(case when reconciliation_status = 'lfpse_only' then 1 else 0 end) as lfpse_only,
    sum(case when harm_disagreement then 1 else 0 end) as harm_disagreements,
    sum(case when duty_of_candour_disagreement then 1 else 0 end) as duty_of_candour_disagreements,
    sum(case when never_event_disagreement then 1 else 0 end) as never_event_disagreements,
    sum(case when local_incident_key is not null and reconciliation_status <> 'local_only_within_window'
             then 1 else 0 end) as due_for_submission,
    sum(case when local_incident_key is not null and reconciliation_status = 'matched'
             then 1 else 0 end) as submitted,
    {{ share("sum(case when reconciliation_status = 'matched' then 1 else 0 end)",
             "sum(case when local_incident_key is not null and reconciliation_status <> 'local_only_within_window'"
             ~ " then 1 else 0 end)") }} as submission_completeness_pct
from {{ ref('oversight_lfpse_reconciliation') }}
group by provider_ods, month_start
