{#- The per-column tests of a model, run in one query each night.

    Every column keeps its own tests in the .yml (not_null, unique, accepted_values, relationships): they document
    the column, dbt docs shows them on it, and any one of them can still be run alone by name. Run one by one, they
    cost dbt a node each (some 20-30 ms of overhead per test, 600 tests) and, on a view, an evaluation of the view
    each. So each model also declares

      - `column_checks`: its not_null, unique and accepted_values tests, in one query (one pass over the model for
        the not-null and accepted-values rules, one grouped pass per unique column);
      - `relationship_checks` (where the model has relationships tests): its relationships tests, in one query
        (one pass over the model, an anti-join per referenced dimension). Its `to` argument names the referenced
        models, so that dbt runs it after them; a relationships test whose model is not listed stops it with an
        error naming the model to add.

    Both read the per-column tests from dbt's graph when they run, with each test's own `where` config, and cover
    the tests of their own severity (declare a second one with `config: {severity: warn}` for warn-level tests).
    The selector `nightly` (selectors.yml, dbt's default) leaves the per-column tests out, so nothing is checked
    twice. A failing row names the per-column test, the column, the rule and the number of offending rows
    (distinct duplicated values for unique), as the per-column test would have. -#}

{#- An index of the graph, built once per dbt invocation and kept in the graph itself (every node's context shares
    that dictionary): the models, seeds and snapshots by relation, and the per-column generic tests by the node they
    are attached to. Looking them up per consolidated test by scanning the whole graph cost some 30 ms a test. -#}
{% macro _psirf_graph_index() -%}
    {%- if '_psirf_index' not in graph -%}
        {%- set relations = {} -%}
        {%- set tests = {} -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type in ('model', 'seed', 'snapshot') -%}
                {%- do relations.update({(node.schema ~ '.' ~ (node.alias or node.name)) | lower: node}) -%}
            {%- elif node.resource_type == 'test' and node.test_metadata and not node.test_metadata.namespace -%}
                {%- do tests.setdefault(node.attached_node, []).append(node) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do graph.update({'_psirf_index': {'relations': relations, 'tests': tests}}) -%}
    {%- endif -%}
    {{ return(graph['_psirf_index']) }}
{%- endmacro %}

{#- The graph node (model, seed, snapshot) a relation was built from. -#}
{% macro _psirf_node_of(relation) -%}
    {%- set node = _psirf_graph_index()['relations'].get((relation.schema ~ '.' ~ relation.identifier) | lower) -%}
    {%- if node is none -%}
        {{ exceptions.raise_compiler_error("column checks: no model, seed or snapshot is built as " ~ relation) }}
    {%- endif -%}
    {{ return(node) }}
{%- endmacro %}

{#- The per-column generic tests of a given kind attached to a node, at the given severity. -#}
{% macro _psirf_column_tests(node, kinds, severity) -%}
    {%- set found = [] -%}
    {%- for test in _psirf_graph_index()['tests'].get(node.unique_id, [])
            if test.test_metadata.name in kinds and (test.config.severity | lower) == (severity | lower) -%}
        {%- do found.append(test) -%}
    {%- endfor -%}
    {{ return(found | sort(attribute='name')) }}
{%- endmacro %}

{% macro _psirf_where(test) -%}
    {%- if test.config.where %}({{ test.config.where }}){% else %}true{% endif -%}
{%- endmacro %}

{% macro _psirf_quoted_values(test) -%}
    {%- set kwargs = test.test_metadata.kwargs -%}
    {%- for value in kwargs['values'] -%}
        {%- if kwargs.get('quote', true) %}'{{ value }}'{% else %}{{ value }}{% endif %}
        {%- if not loop.last %}, {% endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- Rows (test, column, rule, failing rows) for the checks that failed; `counted` is a one-row CTE of counts. -#}
{% macro _psirf_failures(checks) -%}
    {%- for check in checks %}
    select '{{ check.test }}' as test_name, '{{ check.column }}' as column_name, '{{ check.rule }}' as rule,
           cast({{ check.count }} as bigint) as failing_rows
    from {{ check.source }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- The rows a consolidated check reads this build (macros/check_scope.sql): every row, or, when the model names
    how its changed rows are found, those changed since the check's last pass:
      - `changed_column`: a change stamp on the model itself (updated_at, canonical_updated_at);
      - `changed_key` with `changed_in` (and `changed_in_column`, default canonical_updated_at): the rows whose key
        is among the keys of `changed_in` changed since then (an oversight view over a fact: the fact's rows that
        changed, through its indexed stamp). -#}
{% macro _psirf_check_scope(node, kind, severity, changed_column, changed_key, changed_in, changed_in_column) -%}
    {%- if changed_column is none and changed_key is none -%}{{ return('true') }}{%- endif -%}
    {%- set check = _psirf_column_tests(node, [kind], severity) -%}
    {%- set since = psirf_checks_since(check[0].unique_id) if check else none -%}
    {%- if since is none -%}{{ return('true') }}{%- endif -%}
    {%- if changed_column is not none -%}
        {{ return(psirf_changed_rows(adapter.quote(changed_column), since)) }}
    {%- endif -%}
    {{ return(adapter.quote(changed_key) ~ ' in (select ' ~ adapter.quote(changed_key) ~ ' from ' ~ changed_in
              ~ ' where ' ~ psirf_changed_rows(changed_in_column, since) ~ ')') }}
{%- endmacro %}

{% test column_checks(model, changed_column=none, changed_key=none, changed_in=none,
                          changed_in_column='canonical_updated_at') -%}
    {%- if not execute -%}{{ return('select 1 as parsed') }}{%- endif -%}
    {%- set severity = config.get('severity', 'error') -%}
    {%- set node = _psirf_node_of(model) -%}
    {%- set tests = _psirf_column_tests(node, ['not_null', 'unique', 'accepted_values'], severity) -%}
    {%- set row_rules = [] -%}
    {%- set unique_rules = [] -%}
    {%- for test in tests -%}
        {%- set column = test.column_name -%}
        {%- set name = test.test_metadata.name -%}
        {%- if name == 'not_null' -%}
            {%- do row_rules.append({'test': test.name, 'column': column, 'rule': 'not_null',
                                     'condition': _psirf_where(test) ~ ' and ' ~ adapter.quote(column) ~ ' is null'}) -%}
        {%- elif name == 'accepted_values' -%}
            {%- do row_rules.append({'test': test.name, 'column': column, 'rule': 'accepted_values',
                                     'condition': _psirf_where(test) ~ ' and ' ~ adapter.quote(column)
                                                  ~ ' not in (' ~ _psirf_quoted_values(test) ~ ')'}) -%}
        {%- else -%}
            {%- do unique_rules.append({'test': test.name, 'column': column, 'where': _psirf_where(test)}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not tests -%}
        {{ exceptions.raise_compiler_error("column_checks on " ~ node.name ~ ": the model has no not_null, unique or "
                                           ~ "accepted_values test of severity " ~ severity ~ " to run") }}
    {%- endif -%}
    {%- set checks = [] -%}
    {%- set scope = _psirf_check_scope(node, 'column_checks', severity, changed_column, changed_key, changed_in,
                                       changed_in_column) %}
with
{%- if scope != 'true' %}
scoped as materialized (
    select * from {{ model }} where {{ scope }}
),
{%- endif %}
{%- if row_rules %}
row_counts as materialized (
    select
        {%- for rule in row_rules %}
        count(case when {{ rule.condition }} then 1 end) as rule_{{ loop.index }}{% if not loop.last %},{% endif %}
        {%- do checks.append({'test': rule.test, 'column': rule.column, 'rule': rule.rule,
                              'count': 'rule_' ~ loop.index, 'source': 'row_counts'}) %}
        {%- endfor %}
    from {{ 'scoped' if scope != 'true' else model }}
),
{%- endif %}
{%- for rule in unique_rules %}
unique_{{ loop.index }} as (
    select count(*) as duplicated_values
    from (
        select {{ adapter.quote(rule.column) }}
        from {{ model }}
        where {{ rule.where }} and {{ adapter.quote(rule.column) }} is not null
        {%- if scope != 'true' %}
          and {{ adapter.quote(rule.column) }} in (select {{ adapter.quote(rule.column) }} from scoped)
        {%- endif %}
        group by {{ adapter.quote(rule.column) }}
        having count(*) > 1
    ) duplicated
),
    {%- do checks.append({'test': rule.test, 'column': rule.column, 'rule': 'unique',
                          'count': 'duplicated_values', 'source': 'unique_' ~ loop.index}) %}
{%- endfor %}
results as (
    {{ _psirf_failures(checks) }}
)

select * from results where failing_rows > 0
{%- endtest %}

{% test relationship_checks(model, to, changed_column=none, changed_key=none, changed_in=none,
                                changed_in_column='canonical_updated_at') -%}
    {%- if not execute -%}{{ return('select 1 as parsed') }}{%- endif -%}
    {%- set severity = config.get('severity', 'error') -%}
    {%- set node = _psirf_node_of(model) -%}
    {%- set tests = _psirf_column_tests(node, ['relationships'], severity) -%}
    {%- set parents = {} -%}
    {%- for relation in to -%}{%- do parents.update({relation.identifier | lower: relation}) -%}{%- endfor -%}
    {%- if not tests -%}
        {{ exceptions.raise_compiler_error("relationship_checks on " ~ node.name ~ ": the model has no relationships "
                                           ~ "test of severity " ~ severity ~ " to run") }}
    {%- endif -%}
    {%- set joins = [] -%}
    {%- set checks = [] -%}
    {%- for test in tests -%}
        {%- set kwargs = test.test_metadata.kwargs -%}
        {%- set to_ref = kwargs['to'] | replace(' ', '') | replace('"', "'") | lower -%}
        {%- set parent_name = to_ref[5:-2] if to_ref.startswith("ref('") and to_ref.endswith("')") else none -%}
        {%- if parent_name is none or parent_name not in parents -%}
            {{ exceptions.raise_compiler_error("relationship_checks on " ~ node.name ~ ": " ~ test.name ~ " refers to "
                                               ~ kwargs['to'] ~ ", which is not in its `to` list: add it") }}
        {%- endif -%}
        {%- do joins.append({'parent': parents[parent_name], 'field': kwargs['field'],
                             'column': test.column_name, 'where': _psirf_where(test)}) -%}
        {%- do checks.append({'test': test.name, 'column': test.column_name, 'rule': 'relationships',
                              'count': 'rule_' ~ loop.index, 'source': 'row_counts'}) -%}
    {%- endfor %}
    {%- set scope = _psirf_check_scope(node, 'relationship_checks', severity, changed_column, changed_key,
                                       changed_in, changed_in_column) %}
with
{%- if scope != 'true' %}
scoped as materialized (
    select * from {{ model }} where {{ scope }}
),
{%- endif %}
row_counts as materialized (
    select
        {%- for join in joins %}
        count(case when {{ join.where }} and child.{{ adapter.quote(join.column) }} is not null
                        and parent_{{ loop.index }}.parent_value is null then 1 end) as rule_{{ loop.index }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ 'scoped' if scope != 'true' else model }} child
    {%- for join in joins %}
    left join (select distinct {{ join.field }} as parent_value from {{ join.parent }}
               {%- if scope != 'true' %}
               where {{ join.field }} in (select {{ adapter.quote(join.column) }} from scoped)
               {%- endif %}) parent_{{ loop.index }}
      on parent_{{ loop.index }}.parent_value = child.{{ adapter.quote(join.column) }}
    {%- endfor %}
),

results as (
    {{ _psirf_failures(checks) }}
)

select * from results where failing_rows > 0
{%- endtest %}
