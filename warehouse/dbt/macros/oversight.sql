{#- The provider's current name (names are resolved by ODS code: trusts are renamed and merged). -#}
{% macro current_provider(alias, ods) -%}
    left join {{ ref('dim_organisation') }} {{ alias }} on {{ alias }}.ods_code = {{ ods }} and {{ alias }}.is_current
{%- endmacro %}

{#- Months as consecutive integers (year * 12 + month - 1), so that "the twelve months to M" is a range. -#}
{% macro month_index(date_expr) -%}
    (cast(extract(year from {{ date_expr }}) as integer) * 12 + cast(extract(month from {{ date_expr }}) as integer) - 1)
{%- endmacro %}

{#- The first day of a month given as month_index. -#}
{% macro month_start_of(index_expr) -%}
    cast(cast(floor(({{ index_expr }}) / 12.0) as integer) as varchar) || '-'
        || lpad(cast(mod({{ index_expr }}, 12) + 1 as varchar), 2, '0') || '-01'
{%- endmacro %}

{#- Share as a percentage to one decimal place; NULL when the denominator is 0. -#}
{% macro share(numerator, denominator) -%}
    round(cast(100.0 * ({{ numerator }}) / nullif({{ denominator }}, 0) as numeric(18, 6)), 1)
{%- endmacro %}
