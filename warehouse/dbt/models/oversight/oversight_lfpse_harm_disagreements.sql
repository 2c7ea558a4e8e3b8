{{ config(materialized='table') }}
{#- Harm-grading disagreements between the provider's own record and the national LFPSE record: matched pairs
    whose worst physical harm differs (oversight_lfpse_reconciliation.harm_disagreement), counted per provider,
    local grading and national grading, split by the local record's data-sharing opt-out (a shared output reads
    data_sharing_opt_out = false). Both gradings are LFPSE physical harm levels. -#}
select
    provider_ods,
    min(provider_name) as provider_name,
    local_physical_harm_code,
    min(local_physical_harm) as local_physical_harm,
    lfpse_physical_harm_code,
    min(lfpse_physical_harm) as lfpse_physical_harm,
    coalesce(data_sharing_opt_out, false) as data_sharing_opt_out,
    count(*) as pairs
from {{ ref('oversight_lfpse_reconciliation') }}
where harm_disagreement
group by provider_ods, local_physical_harm_code, lfpse_physical_harm_code, coalesce(data_sharing_opt_out, false)
