{#- Worst harm: an incident's harm is the worst across its patients (LFPSE records harm per patient), or what the
    record itself carries when it has no patient rows. One row per canonical incident record, any event type.

    The patients' worst is read per incident (a correlated subquery on the indexed incident_key), so an incremental
    fact that asks for a few changed incidents costs a few index probes, not an aggregate over every patient. -#}
with incidents as (
    select
        i.incident_key,
        {{ physical_harm_rank('i.physical_harm_code') }} as own_physical_rank,
        {{ psychological_harm_rank('i.psychological_harm_code') }} as own_psychological_rank,
        (select max({{ physical_harm_rank('p.physical_harm_code') }}) from {{ ref('stg_canonical__incident_patients') }} p
          where p.incident_key = i.incident_key) as patients_physical_rank,
        (select max({{ psychological_harm_rank('p.psychological_harm_code') }})
           from {{ ref('stg_canonical__incident_patients') }} p
          where p.incident_key = i.incident_key) as patients_psychological_rank
    from {{ ref('stg_canonical__incidents') }} i
),

worst as (
    select
        incident_key,
        nullif(greatest(coalesce(own_physical_rank, -1), coalesce(patients_physical_rank, -1)), -1)
            as physical_severity_rank,
        nullif(greatest(coalesce(own_psychological_rank, -1), coalesce(patients_psychological_rank, -1)), -1)
            as psychological_severity_rank
    from incidents
)

select
    incident_key,
    cast(5 - physical_severity_rank as varchar) as worst_physical_harm_code,
    cast(4 - psychological_severity_rank as varchar) as worst_psychological_harm_code,
    physical_severity_rank,
    psychological_severity_rank,
    coalesce(physical_severity_rank >= 2, false) or coalesce(psychological_severity_rank >= 2, false)
        as is_moderate_or_worse
from worst
