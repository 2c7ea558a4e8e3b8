{#- PSIRP response compliance counted per provider and requirement (oversight_psirp_compliance), one column per
    status, split by the records' data-sharing opt-out (a shared output reads data_sharing_opt_out = false). -#}
select
    provider_ods,
    min(provider_name) as provider_name,
    requirement_source,
    requirement_id,
    min(required_response) as required_response,
    count(*) as incidents,
    sum(case when compliance_status = 'met' then 1 else 0 end) as met,
    sum(case when compliance_status = 'in_progress' then 1 else 0 end) as in_progress,
    sum(case when compliance_status = 'overdue' then 1 else 0 end) as overdue,
    sum(case when compliance_status = 'no_response_recorded' then 1 else 0 end) as no_response_recorded,
    sum(case when compliance_status = 'provider_sends_no_learning_responses' then 1 else 0 end)
        as provider_sends_no_learning_responses,
    data_sharing_opt_out
from {{ ref('oversight_psirp_compliance') }}
group by provider_ods, requirement_source, requirement_id, data_sharing_opt_out
