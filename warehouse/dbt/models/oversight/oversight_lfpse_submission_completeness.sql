{{ config(materialized='table') }}
{#- Submission completeness per provider over the whole national export: of the provider's own incidents whose
    submission window has closed (or that reached LFPSE anyway), the share that has an LFPSE record. Records still
    within the window are counted apart and left out of the figure (not yet a failure). -#}
select
    provider_ods,
    min(provider_name) as provider_name,
    min(month_start) as first_month,
    max(month_start) as last_month,
    sum(local_incidents) as local_incidents,
    sum(matched) as matched,
    sum(matched_by_reference) as matched_by_reference,
    sum(matched_by_score) as matched_by_score,
    sum(submitted_late) as submitted_late,
    sum(local_only_within_window) as local_only_within_window,
    sum(local_only_past_window) as local_only_past_window,
    sum(lfpse_only) as lfpse_only,
    sum(harm_disagreements) as harm_disagreements,
    sum(duty_of_candour_disagreements) as duty_of_candour_disagreements,
    sum(never_event_disagreements) as never_event_disagreements,
    sum(due_for_submission) as due_for_submission,
    sum(submitted) as submitted,
    {{ share('sum(submitted)', 'sum(due_for_submission)') }} as submission_completeness_pct
from {{ ref('oversight_lfpse_submission_monthly') }}
group by provider_ods
