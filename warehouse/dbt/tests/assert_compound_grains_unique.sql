{#- Why: these models' grains span several columns, which the built-in unique test cannot check: a duplicate
    pair in the bridge double-counts coverage, a duplicate provider period doubles a report's figures, a
    duplicate dq score skews the feedback trend, a duplicate code in the LFPSE code list fans out the dimensions
    built on it, and a duplicate row in an aggregated oversight model double-counts a cell. Returns one row per
    duplicated grain value. -#}
with grains as (
    select 'bridge_learning_response_incident' as model,
           learning_response_key || '|' || incident_key as grain_value, count(*) as rows_with_value
    from {{ ref('bridge_learning_response_incident') }}
    group by learning_response_key, incident_key

    union all
    select 'stg_canonical__learning_response_incidents', learning_response_key || '|' || incident_key, count(*)
    from {{ ref('stg_canonical__learning_response_incidents') }}
    group by learning_response_key, incident_key

    union all
    select 'oversight_provider_measures', provider_ods || '|' || cast(period_end as varchar), count(*)
    from {{ ref('oversight_provider_measures') }}
    group by provider_ods, period_end

    union all
    select 'fct_dq_dimension_score', provider_ods || '|' || load_id || '|' || dimension, count(*)
    from {{ ref('fct_dq_dimension_score') }}
    group by provider_ods, load_id, dimension

    union all
    select 'stg_canonical__dq_dimension_scores', batch_id || '|' || dimension, count(*)
    from {{ ref('stg_canonical__dq_dimension_scores') }}
    group by batch_id, dimension

    union all
    select 'stg_canonical__incident_patients', incident_key || '|' || cast(patient_sequence as varchar), count(*)
    from {{ ref('stg_canonical__incident_patients') }}
    group by incident_key, patient_sequence

    union all
    select 'lfpse_v5_code_systems', code_system_id || '|' || code, count(*)
    from {{ ref('lfpse_v5_code_systems') }}
    group by code_system_id, code

    union all
    select 'oversight_incidents_by_harm',
           provider_ods || '|' || occurred_month || '|' || physical_harm_code || '|' || coalesce(icb_code, '')
               || '|' || cast(data_sharing_opt_out as varchar), count(*)
    from {{ ref('oversight_incidents_by_harm') }}
    group by provider_ods, occurred_month, physical_harm_code, icb_code, data_sharing_opt_out

    union all
    select 'oversight_reporting_timeliness_monthly',
           provider_ods || '|' || occurred_month || '|' || cast(data_sharing_opt_out as varchar), count(*)
    from {{ ref('oversight_reporting_timeliness_monthly') }}
    group by provider_ods, occurred_month, data_sharing_opt_out

    union all
    select 'oversight_harm_inequalities',
           provider_ods || '|' || occurred_month || '|' || ethnicity_code || '|' || age_bracket || '|' || sex
               || '|' || coalesce(cast(imd_decile as varchar), '') || '|' || physical_harm_code
               || '|' || cast(data_sharing_opt_out as varchar), count(*)
    from {{ ref('oversight_harm_inequalities') }}
    group by provider_ods, occurred_month, ethnicity_code, age_bracket, sex, imd_decile, physical_harm_code,
             data_sharing_opt_out

    union all
    select 'oversight_lfpse_harm_disagreements',
           provider_ods || '|' || local_physical_harm_code || '|' || lfpse_physical_harm_code
               || '|' || cast(data_sharing_opt_out as varchar), count(*)
    from {{ ref('oversight_lfpse_harm_disagreements') }}
    group by provider_ods, local_physical_harm_code, lfpse_physical_harm_code, data_sharing_opt_out

    union all
    select 'oversight_psirp_compliance_by_provider',
           provider_ods || '|' || requirement_source || '|' || requirement_id
               || '|' || cast(data_sharing_opt_out as varchar), count(*)
    from {{ ref('oversight_psirp_compliance_by_provider') }}
    group by provider_ods, requirement_source, requirement_id, data_sharing_opt_out
)

select * from grains where rows_with_value > 1
