{#- LFPSE harm codes run backwards (physical 5 none … 1 fatal; psychological 4 none … 1 severe). The severity rank
    runs forwards from 0 (none), so "worse" is "greater" and moderate-or-worse is rank >= 2 on both scales.
    The dimensions and int_incident_measures both read these two macros, so code and rank agree everywhere. -#}
{% macro physical_harm_rank(code) -%}
    case {{ code }} when '5' then 0 when '4' then 1 when '3' then 2 when '2' then 3 when '1' then 4 end
{%- endmacro %}

{% macro psychological_harm_rank(code) -%}
    case {{ code }} when '4' then 0 when '3' then 1 when '2' then 2 when '1' then 3 end
{%- endmacro %}
