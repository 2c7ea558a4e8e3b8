{#- Why: facts find their organisation by (ODS code, a date within valid_from … valid_to) and reports find the
    current name by (ODS code, is_current). Two versions with the same valid_from, overlapping versions, or two
    current versions would fan out every join and double-count; a gap would lose records. Checks the snapshot
    too: at most one open version per ODS code. -#}
with versions as (
    select
        ods_code, valid_from, valid_to, is_current,
        lead(valid_from) over (partition by ods_code order by valid_from) as next_valid_from
    from {{ ref('dim_organisation') }}
),

problems as (
    select ods_code, cast(valid_from as varchar) as valid_from, 'two versions with the same valid_from' as problem
    from {{ ref('dim_organisation') }}
    group by ods_code, valid_from
    having count(*) > 1

    union all
    select ods_code, cast(null as varchar), 'not exactly one current version'
    from {{ ref('dim_organisation') }}
    group by ods_code
    having count(*) filter (where is_current) <> 1

    union all
    select ods_code, cast(valid_from as varchar), 'valid_to is not the next version''s valid_from (gap or overlap)'
    from versions
    where valid_to is distinct from next_valid_from

    union all
    select ods_code, cast(valid_from as varchar), 'valid_to not after valid_from'
    from versions
    where valid_to <= valid_from

    union all
    select ods_code, cast(valid_from as varchar), 'is_current disagrees with valid_to'
    from versions
    where is_current <> (valid_to is null)

    union all
    select ods_code, cast(valid_from as varchar), 'first version not valid from 1900-01-01'
    from versions v
    where valid_from = (select min(valid_from) from versions w where w.ods_code = v.ods_code)
      and valid_from <> cast('1900-01-01' as date)

    union all
    select ods_code, cast(null as varchar), 'more than one open version in snap_organisations'
    from {{ ref('snap_organisations') }}
    where dbt_valid_to is null
    group by ods_code
    having count(*) > 1
)

select * from problems
