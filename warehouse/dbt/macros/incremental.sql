{#- Incremental facts read only what changed in the canonical tables since their own watermark.

    The watermark is the newest canonical `updated_at` a fact holds (`canonical_updated_at`), less a short look-back
    (var lookback_seconds) for clocks that differ between the workers that stamp it; re-reading is harmless because
    every changed parent is replaced whole. -#}
{% macro changed_since_watermark(column) -%}
    {{ column }} > {{ psirf_watermark() }}
{%- endmacro %}


{#- The incidents an incremental build derives again: those whose record changed since the model's watermark (a
    filter the scan applies, so only those rows are read) and those whose patients alone changed (rare: those
    records alone are read, by their keys). Shared by the models that derive rows from an incident and its
    patients. -#}
{% macro incidents_changed_since_watermark() -%}
    select i.*
    from {{ ref('stg_canonical__incidents') }} i
    where {{ changed_since_watermark('i.updated_at') }}
    union all
    select i.*
    from {{ ref('stg_canonical__incidents') }} i
    where not ({{ changed_since_watermark('i.updated_at') }})
      and i.incident_key in (select p.incident_key from {{ ref('stg_canonical__incident_patients') }} p
                             where {{ changed_since_watermark('p.updated_at') }})
{%- endmacro %}

{#- The watermark as a literal, read from the model's own table when it is compiled: the planner then estimates
    "changed since" from the column's statistics (a few rows: index probes, no hash join over every row) and
    DuckDB skips the row groups whose zone maps end before it. Safe to read before the model's transaction: only
    this model writes its table, and a dbt build runs alone. -#}
{% macro psirf_watermark() -%}
    {%- set lookback = "interval '" ~ var('lookback_seconds') ~ " seconds'" -%}
    {%- if execute and is_incremental() -%}
        {%- set newest = run_query("select max(canonical_updated_at) from " ~ this).columns[0].values()[0] -%}
        {%- if newest is none -%}
            {%- set newest = '1900-01-01 00:00:00' -%}
        {%- elif newest is not string -%}
            {%- set newest = newest.strftime('%Y-%m-%d %H:%M:%S.%f') -%}
        {%- endif -%}
        (cast('{{ newest }}' as timestamp) - {{ lookback }})
    {%- else -%}
        (select coalesce(max(canonical_updated_at), cast('1900-01-01' as timestamp)) - {{ lookback }} from {{ this }})
    {%- endif -%}
{%- endmacro %}

{#- On incremental runs a model also returns tombstones (is_removed = true) for what must leave it; the column
    exists only in the batch of changes, never in the fact. -#}
{% macro removed_flag(expr) -%}
    {%- if is_incremental() %}, {{ expr }} as is_removed{% endif -%}
{%- endmacro %}

{#- Strategy "replace_changed": everything belonging to a changed parent is replaced.

    The model returns, for every parent that changed (an incident, a learning response …), all of its current rows
    plus a tombstone row (is_removed = true) that carries the parent's key. The strategy deletes every row of the
    fact whose `replace_by` column (one or several; default: the unique key) matches a key in the batch, then
    inserts the batch's live rows. So a deleted incident leaves the fact, a patient pruned from an updated
    incident leaves with it, and a bridge pair follows both its response and its incident. Set-based: one DELETE
    per replace_by column (each a semi-join; an OR of IN lists would be tested row by row on PostgreSQL once a
    list outgrows work_mem) and one INSERT per fact, in the model's transaction. -#}
{% macro get_incremental_replace_changed_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set batch = arg_dict["temp_relation"] -%}
    {%- set replace_by = config.get("replace_by") or arg_dict["unique_key"] -%}
    {%- if replace_by is string -%}{%- set replace_by = [replace_by] -%}{%- endif -%}
    {%- set columns = arg_dict["dest_columns"] | map(attribute="quoted") | join(", ") -%}
    {%- for key in replace_by %}
    delete from {{ target }}
    where {{ key }} in (select {{ key }} from {{ batch }} where {{ key }} is not null);
    {%- endfor %}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ batch }} where not is_removed
{%- endmacro %}
