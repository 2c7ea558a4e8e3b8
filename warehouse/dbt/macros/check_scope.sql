{#- Nightly checks read what changed; the whole warehouse is checked after a full refresh and at least weekly.

    A check that passed over every row at time T0 and, each night since, over every row changed since its previous
    pass, has in effect checked every row as it stands now: a row that did not change was checked when it last
    did. So a nightly build need not re-read the whole 1M-incident warehouse to check a 5,000-record delta.

    Each check that can be scoped (the consolidated per-column checks, the reconciliations of the facts to the
    canonical tables) asks `psirf_checks_since()` for its scope:
      - none (check every row) when the build runs with `--vars '{checks: full}'` (`psirf marts --full-checks`),
        on a full refresh, when the check has never passed, or when its last pass over every row is older than
        var `full_checks_every_days` (7): a rule changed in the code, a parent row removed under an unchanged
        child, anything the scoped passes cannot see, is found within a week;
      - otherwise the start of the check's last passing build, less var `lookback_seconds` (the clock margin the
        incremental models use): the check reads the rows changed since then.

    The passes are recorded in staging.psirf_check_passes (`psirf_record_check_passes`, on-run-end), one row per
    check, from dbt's own results: a check that failed or warned keeps its previous pass, so the next build reads
    every row changed since the last pass that found nothing. -#}

{% macro _psirf_check_passes() -%}
    {{ return(api.Relation.create(database=target.database, schema='staging', identifier='psirf_check_passes')) }}
{%- endmacro %}

{#- on-run-start. Airflow runs a dbt invocation per model, several at once on PostgreSQL, where two concurrent
    CREATE … IF NOT EXISTS of the same name can collide: the first build's hooks take turns (a transaction lock). -#}
{% macro psirf_create_check_passes() -%}
    {%- if target.type == 'postgres' %}
    select pg_advisory_xact_lock(hashtext('psirf_check_passes'));
    {%- endif %}
    create schema if not exists staging;
    create table if not exists {{ _psirf_check_passes() }} (
        check_id varchar primary key,
        passed_at timestamp not null,
        full_pass_at timestamp not null
    )
{%- endmacro %}

{#- The checks' records: check id -> (passed_at, full_pass_at) as strings; `check_id` reads that check's alone. -#}
{% macro _psirf_check_records(check_id=none) -%}
    {%- set found = run_query("select check_id, cast(passed_at as varchar), cast(full_pass_at as varchar) from "
                              ~ _psirf_check_passes()
                              ~ (" where check_id = '" ~ check_id ~ "'" if check_id is not none else "")) -%}
    {%- set records = {} -%}
    {%- for row in found.rows -%}{%- do records.update({row[0]: (row[1], row[2])}) -%}{%- endfor -%}
    {{ return(records) }}
{%- endmacro %}

{#- Whether this build checks every row for a check whose record is `record` (none: it never passed). -#}
{% macro _psirf_checks_all_rows(record) -%}
    {%- if var('checks', 'changed') == 'full' or flags.FULL_REFRESH or record is none -%}{{ return(true) }}{%- endif -%}
    {%- set full_pass_at = modules.datetime.datetime.fromisoformat(record[1][:19]) -%}
    {%- set days = var('full_checks_every_days') | string | trim -%}
    {%- if not days.replace('.', '', 1).isdigit() -%}
        {{ exceptions.raise_compiler_error("PSIRF_FULL_CHECKS_EVERY_DAYS (dbt var full_checks_every_days) is "
                                           ~ days ~ ": expected a number of days, 0 or more (default 7)") }}
    {%- endif -%}
    {%- set age = run_started_at.replace(tzinfo=none) - full_pass_at -%}
    {{ return(age.total_seconds() > days | float * 86400) }}
{%- endmacro %}

{#- The scope of a check: none (every row), or a SQL timestamp expression: rows changed after it are checked. -#}
{% macro psirf_checks_since(check_id) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set record = _psirf_check_records(check_id).get(check_id) -%}
    {%- if _psirf_checks_all_rows(record) -%}{{ return(none) }}{%- endif -%}
    {{ return("(cast('" ~ record[0][:26] ~ "' as timestamp) - interval '" ~ var('lookback_seconds') ~ " seconds')") }}
{%- endmacro %}

{#- A predicate on `column` (a change stamp): true for the rows the check reads under `since`. -#}
{% macro psirf_changed_rows(column, since) -%}
    {%- if since is none -%}true{%- else -%}{{ column }} > {{ since }}{%- endif -%}
{%- endmacro %}

{#- The checks that read only changed rows on a nightly build: the consolidated per-column checks of models that
    say how their changed rows are found, and the singular tests that declare
    `config(meta={'scoped_check': true})`. The others read every row every time: no pass of theirs is recorded. -#}
{% macro psirf_is_scoped_check(node) -%}
    {%- if node.test_metadata and node.test_metadata.name in ('column_checks', 'relationship_checks') -%}
        {%- set kwargs = node.test_metadata.kwargs -%}
        {{ return(kwargs.get('changed_column') is not none or kwargs.get('changed_key') is not none) }}
    {%- endif -%}
    {{ return((node.config.meta or {}).get('scoped_check', false)) }}
{%- endmacro %}

{#- on-run-end: the checks that passed, with whether they read every row. -#}
{% macro psirf_record_check_passes(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set stamp = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp)" -%}
    {%- set statements = [] -%}
    {%- set records = _psirf_check_records() -%}
    {%- for result in results
            if result.node.resource_type == 'test' and result.status == 'pass' and psirf_is_scoped_check(result.node) -%}
        {%- set check_id = result.node.unique_id -%}
        {%- set full = _psirf_checks_all_rows(records.get(check_id)) -%}
        {%- do statements.append(
            "insert into " ~ _psirf_check_passes() ~ " (check_id, passed_at, full_pass_at) values ('"
            ~ check_id ~ "', " ~ stamp ~ ", " ~ stamp ~ ") on conflict (check_id) do update set passed_at = "
            ~ stamp ~ (", full_pass_at = " ~ stamp if full else "")) -%}
    {%- endfor -%}
    {{ return(statements | join(';\n')) }}
{%- endmacro %}

{#- For singular tests that read only what changed: the keys (`key`) of the rows changed since `since` in each
    (relation, change-stamp column) of `relations`, as a CTE named `changed` (nothing when every row is read),
    and the predicate that keeps a row whose `column` is among them (true when every row is read). -#}
{% macro psirf_changed_cte(since, key, relations) -%}
    {%- if since is not none -%}
changed as materialized (
    {%- for relation, column in relations %}
    select {{ key }} from {{ relation }} where {{ psirf_changed_rows(column, since) }}
    {%- if not loop.last %}
    union{% endif -%}
    {%- endfor %}
),
    {%- endif -%}
{%- endmacro %}

{% macro psirf_in_changed(column, since, keys='changed') -%}
    {%- if since is none -%}true{%- else -%}{{ column }} in (select * from {{ keys }}){%- endif -%}
{%- endmacro %}
