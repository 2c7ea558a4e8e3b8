{#- Why: "overdue" has one definition, stored as the interval [overdue_from_date, overdue_to_date) in which an
    action is overdue. An interval that ends before it starts, or any interval on a cancelled action, would count
    actions as overdue that are not (or never were), in the figures the ICB watches most. Also: the interval opens
    the day after the effective due date, closes only when the action was completed late, and never exists for an
    action completed on time; oversight_safety_actions' is_overdue must follow it.
    Set-based, one pass over the fact: each rule is a column, and only the actions breaking one are kept (the
    oversight view is compared by a join, never by a subquery per action, which has no index to use on a dbt
    table and is quadratic on PostgreSQL).
    Nightly, only the actions changed since the test's last pass (macros/check_scope.sql). -#}
{{ config(meta={'scoped_check': true}) }}
{%- set since = psirf_checks_since(model.unique_id) %}
with
{{ psirf_changed_cte(since, 'safety_action_key', [(source('canonical', 'safety_action'), 'updated_at'), (ref('fct_safety_action'), 'canonical_updated_at')]) }}
checked as (
    select
        f.safety_action_key,
        f.overdue_from_date is not null and f.overdue_to_date is not null
            and f.overdue_from_date > f.overdue_to_date as from_after_to,
        f.status_code = 'cancelled' and (f.overdue_from_date is not null or f.overdue_to_date is not null)
            as cancelled_with_interval,
        f.overdue_to_date is not null and f.overdue_from_date is null as to_without_from,
        f.overdue_from_date is not null and f.overdue_from_date <> f.effective_due_date + 1 as from_not_day_after_due,
        f.completed_date <= f.effective_due_date and f.overdue_from_date is not null as on_time_with_interval,
        f.completed_date > f.effective_due_date and f.status_code <> 'cancelled'
            and f.overdue_to_date is distinct from f.completed_date as late_not_closed,
        f.status_code = 'open' and f.completed_date is null and f.effective_due_date < current_date
            and f.overdue_from_date is null as open_past_due_no_interval,
        f.completed_on_time is distinct from
            case when f.completed_date is null or f.effective_due_date is null then null
                 else f.completed_date <= f.effective_due_date end as completed_on_time_wrong,
        o.safety_action_key is not null
            and (o.is_overdue <> coalesce(f.overdue_from_date <= current_date
                                          and (f.overdue_to_date is null or current_date < f.overdue_to_date), false)
                 or (o.is_overdue and o.status = 'cancelled')) as oversight_disagrees
    from (select * from {{ ref('fct_safety_action') }}
          where {{ psirf_in_changed('safety_action_key', since) }}) f
    full outer join (select * from {{ ref('oversight_safety_actions') }}
                     where {{ psirf_in_changed('safety_action_key', since) }}) o
      on o.safety_action_key = f.safety_action_key
),

problems as materialized (
    select * from checked
    where from_after_to or cancelled_with_interval or to_without_from or from_not_day_after_due
       or on_time_with_interval or late_not_closed or open_past_due_no_interval or completed_on_time_wrong
       or oversight_disagrees
)

{%- set rules = [
    ('from_after_to', 'overdue_from_date after overdue_to_date'),
    ('cancelled_with_interval', 'cancelled action with an overdue interval'),
    ('to_without_from', 'overdue_to_date without overdue_from_date'),
    ('from_not_day_after_due', 'overdue_from_date is not the day after the effective due date'),
    ('on_time_with_interval', 'completed on or before the due date, yet an overdue interval'),
    ('late_not_closed', 'completed late but the interval does not close on the completed date'),
    ('open_past_due_no_interval', 'open, past due and not completed, but no overdue interval'),
    ('completed_on_time_wrong', 'completed_on_time disagrees with the dates'),
    ('oversight_disagrees', 'oversight_safety_actions.is_overdue disagrees with the interval at today'),
] %}
{% for column, problem in rules %}
select safety_action_key, '{{ problem }}' as problem from problems where {{ column }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
