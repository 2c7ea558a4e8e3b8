{{ config(materialized='table') }}
{#- Submission completeness per provider for outputs shared beyond the ICB (the system report): the figures of
    oversight_lfpse_submission_completeness over shareable records only. A local incident whose patient opted out
    of data sharing is left out, as from every shared output; an LFPSE-only record is always counted (the
    national record carries no local opt-out). The figure is the same definition: of the local incidents due for
    submission (window closed, or reached LFPSE anyway), the share that has an LFPSE record. -#}
select
    provider_ods,
    min(provider_name) as provider_name,
    max(as_at_date) as as_at_date,
    sum(case when local_incident_key is not null then 1 else 0 end) as local_incidents,
    sum(case when local_incident_key is not null and reconciliation_status <> 'local_only_within_window'
             then 1 else 0 end) as due_for_submission,
    sum(case when reconciliation_status = 'matched' and not is_submitted_late then 1 else 0 end)
        as submitted_on_time,
    sum(case when is_submitted_late then 1 else 0 end) as submitted_late,
    sum(case when reconciliation_status = 'local_only_past_window' then 1 else 0 end) as local_only_past_window,
    sum(case when reconciliation_status = 'local_only_within_window' then 1 else 0 end) as local_only_within_window,
    sum(case when reconciliation_status = 'lfpse_only' then 1 else 0 end) as lfpse_only,
    sum(case when reconciliation_status = 'matched' then 1 else 0 end) as matched,
    sum(case when harm_disagreement then 1 else 0 end) as harm_disagreements,
    sum(case when reconciliation_status = 'matched' and local_physical_harm_code is not null
              and lfpse_physical_harm_code is not null then 1 else 0 end) as harm_compared,
    sum(case when duty_of_candour_disagreement then 1 else 0 end) as duty_of_candour_disagreements,
    sum(case when never_event_disagreement then 1 else 0 end) as never_event_disagreements,
    {{ share("sum(case when reconciliation_status = 'matched' then 1 else 0 end)",
             "sum(case when local_incident_key is not null and reconciliation_status <> 'local_only_within_window'"
             ~ " then 1 else 0 end)") }} as submission_completeness_pct
from {{ ref('oversight_lfpse_reconciliation') }}
where not coalesce(data_sharing_opt_out, false)
group by provider_ods
