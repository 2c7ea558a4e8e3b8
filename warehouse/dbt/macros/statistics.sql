{#- PostgreSQL plans every query from the planner statistics ANALYZE gathers. Two moments leave them stale:

    - the night's loads have just bulk-written the canonical tables, and autovacuum analyses them asynchronously,
      minutes later: a build that starts at once plans with yesterday's row counts (incident_patient taken for 12k
      rows when it holds 100k) and picks nested loops that re-aggregate a table per row;
    - dbt has just created a table (CREATE TABLE AS has no statistics at all), and the next model or test reads it
      at once.

    `psirf_analyze_stale_sources` (on-run-start) analyses the canonical tables that have no column statistics, or
    whose statistics are stale by autovacuum's own rule (more rows changed since the last analyse than 50 + 10% of
    the table), or that have grown by more than a tenth on disk since (the counters of a load still committing can
    lag): after a backfill every table is analysed, after a small nightly delta none is. `psirf_analyze_if_stale` (post-hook) does the same for
    the table a model, seed or snapshot just wrote: a rebuilt table is always analysed, an incremental fact only
    when the night's change is large. DuckDB keeps its statistics up to date itself: nothing to do. -#}

{%- macro _psirf_stale_relations_sql(relation_filter) -%}
    select c.oid::regclass::text
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_stat_user_tables s on s.relid = c.oid
    where c.relkind in ('r', 'p') and ({{ relation_filter }})
      and (not exists (select 1 from pg_stats st where st.schemaname = n.nspname and st.tablename = c.relname)
           or coalesce(s.n_mod_since_analyze, 0) > 50 + 0.1 * greatest(c.reltuples, 0)
           or pg_relation_size(c.oid) / current_setting('block_size')::int > 1.1 * c.relpages + 8)
{%- endmacro -%}

{% macro psirf_analyze_stale_sources() -%}
    {%- if target.type != 'postgres' or not execute -%}{{ return('') }}{%- endif -%}
    {%- set filters = [] -%}
    {%- for source in graph.sources.values() if source.package_name == project_name -%}
        {%- do filters.append("(n.nspname = '" ~ source.schema ~ "' and c.relname = '" ~ source.identifier ~ "')") -%}
    {%- endfor -%}
    {%- if not filters -%}{{ return('') }}{%- endif -%}
    {%- set stale = run_query(_psirf_stale_relations_sql(filters | join(' or '))).columns[0].values() -%}
    {%- for relation in stale %}
    analyze {{ relation }};
    {%- endfor %}
{%- endmacro %}

{% macro psirf_analyze_if_stale() -%}
    {%- if target.type != 'postgres' or not execute -%}{{ return('') }}{%- endif -%}
    {%- set materialized = config.get('materialized') -%}
    {%- if materialized not in ('table', 'incremental', 'snapshot', 'seed') -%}{{ return('') }}{%- endif -%}
    {%- set stale = run_query(_psirf_stale_relations_sql("n.nspname = '" ~ this.schema ~ "' and c.relname = '" ~ this.identifier ~ "'")) -%}
    {%- if stale.rows | length > 0 -%}
    analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Indexes for an incremental table on PostgreSQL: on its key (the nightly DELETE of the changed keys and the
    probes of the models that read a few changed rows) and on its watermark column (max() and "changed since"),
    so a nightly build reads in proportion to the delta. DuckDB scans a column with its zone maps: none there. -#}
{% macro psirf_indexes(columns) -%}
    {%- set indexes = [] -%}
    {%- if target.type == 'postgres' -%}
        {%- for column in columns -%}{%- do indexes.append({'columns': [column]}) -%}{%- endfor -%}
    {%- endif -%}
    {{ return(indexes) }}
{%- endmacro %}
