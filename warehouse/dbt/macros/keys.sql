{#- Hashed natural keys, identical to transforms.keys.natural_key in Python: the first 32 hex characters of
    SHA-256 over the parts joined by the unit separator (chr 31), NULL parts as ''. Both engines give the same key
    for the same text, so a dimension key computed here joins to one computed by the loader. -#}
{% macro natural_key(parts) -%}
    {{ return(adapter.dispatch('natural_key', 'psirf_warehouse')(parts)) }}
{%- endmacro %}

{% macro _joined_parts(parts) -%}
    {%- for part in parts -%}
        coalesce(cast({{ part }} as varchar), ''){% if not loop.last %} || chr(31) || {% endif %}
    {%- endfor -%}
{%- endmacro %}

{% macro duckdb__natural_key(parts) -%}
    substr(sha256({{ _joined_parts(parts) }}), 1, 32)
{%- endmacro %}

{% macro postgres__natural_key(parts) -%}
    substr(encode(sha256(convert_to({{ _joined_parts(parts) }}, 'UTF8')), 'hex'), 1, 32)
{%- endmacro %}

{#- The key of every dimension's unknown member: natural_key('unknown'). A scalar subquery, so that it is
    computed once per query: PostgreSQL does not fold convert_to() into a constant, and would otherwise hash
    'unknown' again for every fact row whose code is missing. -#}
{% macro unknown_key() -%}
    (select {{ natural_key(["'unknown'"]) }})
{%- endmacro %}

{#- yyyymmdd as an integer, 0 when the date is not recorded (dim_date's unknown member). -#}
{% macro date_key(expr) -%}
    case when {{ expr }} is null then 0
         else cast(extract(year from {{ expr }}) as integer) * 10000
              + cast(extract(month from {{ expr }}) as integer) * 100
              + cast(extract(day from {{ expr }}) as integer) end
{%- endmacro %}

{#- A provider's label trimmed, runs of whitespace collapsed; NULL when blank. -#}
{% macro clean_label(expr) -%}
    nullif(regexp_replace(trim({{ expr }}), '\s+', ' ', 'g'), '')
{%- endmacro %}

{#- Whole days from one date to another (negative when the second is earlier). -#}
{% macro days_between(earlier, later) -%}
    cast({{ later }} - {{ earlier }} as integer)
{%- endmacro %}
