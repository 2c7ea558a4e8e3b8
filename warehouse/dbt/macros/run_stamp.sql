{#- When this dbt invocation started (UTC): stamped on every fact row it writes. -#}
{% macro run_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}

{#- The organisation version valid on a date: a LEFT JOIN onto dim_organisation. -#}
{% macro join_organisation_version(alias, ods, on_date) -%}
    left join {{ ref('dim_organisation') }} {{ alias }}
        on {{ alias }}.ods_code = {{ ods }}
       and {{ on_date }} >= {{ alias }}.valid_from
       and ({{ alias }}.valid_to is null or {{ on_date }} < {{ alias }}.valid_to)
{%- endmacro %}

{#- The key of a code-list dimension member, or the unknown member's when the code is missing or not in the list. -#}
{% macro coded_key(dimension, alias, code) -%}
    coalesce({{ alias }}.{{ dimension }}_key, {{ unknown_key() }})
{%- endmacro %}
