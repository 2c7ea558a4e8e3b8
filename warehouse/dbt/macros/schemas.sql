{#- Models go to the schema their folder names (staging, marts, oversight, reference), not <target>_<name>:
    analysts connect to fixed names. Without a custom schema, the target's schema (the canonical tables). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
