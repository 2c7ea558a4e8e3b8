{#- PostgreSQL: views run with the querying role's rights, so forced row-level security on the tables below them
    filters a provider's rows through every view too (a plain view runs as its owner and would bypass it).
    DuckDB has no roles: nothing to do. -#}
{% macro psirf_view_security() -%}
    {%- if target.type == 'postgres' and model.config.materialized == 'view' -%}
        alter view {{ this }} set (security_invoker = true)
    {%- endif -%}
{%- endmacro %}

{#- PostgreSQL: hold the warehouse's load lock exclusively for this model's transaction. Every load holds it
    shared (warehouse/locks.py), so an incremental model never reads "changed since the watermark" while a load is
    between writing its rows and committing them (it would move the watermark past rows it could not see yet).
    Transaction-scoped: released at commit or rollback. DuckDB admits one writing process: nothing to do. -#}
{% macro psirf_hold_load_lock() -%}
    {%- if target.type == 'postgres' -%}
        select pg_advisory_xact_lock({{ var('load_lock_id') }})
    {%- endif -%}
{%- endmacro %}
