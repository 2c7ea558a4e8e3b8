{#- Why: "overdue" has one definition, stored as the interval [overdue_from_date, overdue_to_date) in which an
    action is overdue. An interval that ends before it starts, or any interval on a cancelled action, would count
    actions as overdue that are not (or never were), in the figures the ICB watches most. Also: the interval opens
    the day after the effective due date, closes only when the action was completed late, and never exists for an
    action completed on time; oversight_safety_actions' is_overdue must follow it. -#}
with problems as (
    select safety_action_key, 'overdue_from_date after overdue_to_date' as problem
    from {{ ref('fct_safety_action') }}
    where overdue_from_date is not null and overdue_to_date is not null and overdue_from_date > overdue_to_date

    union all
    select safety_action_key, 'cancelled action with an overdue interval'
    from {{ ref('fct_safety_action') }}
    where status_code = 'cancelled' and (overdue_from_date is not null or overdue_to_date is not null)

    union all
    select safety_action_key, 'overdue_to_date without overdue_from_date'
    from {{ ref('fct_safety_action') }}
    where overdue_to_date is not null and overdue_from_date is null

    union all
    select safety_action_key, 'overdue_from_date is not the day after the effective due date'
    from {{ ref('fct_safety_action') }}
    where overdue_from_date is not null and overdue_from_date <> effective_due_date + 1

    union all
    select safety_action_key, 'completed on or before the due date, yet an overdue interval'
    from {{ ref('fct_safety_action') }}
    where completed_date <= effective_due_date and overdue_from_date is not null

    union all
    select safety_action_key, 'completed late but the interval does not close on the completed date'
    from {{ ref('fct_safety_action') }}
    where completed_date > effective_due_date and status_code <> 'cancelled'
      and overdue_to_date is distinct from completed_date

    union all
    select safety_action_key, 'open, past due and not completed, but no overdue interval'
    from {{ ref('fct_safety_action') }}
    where status_code = 'open' and completed_date is null and effective_due_date < current_date
      and overdue_from_date is null

    union all
    select safety_action_key, 'completed_on_time disagrees with the dates'
    from {{ ref('fct_safety_action') }}
    where completed_on_time is distinct from
          case when completed_date is null or effective_due_date is null then null
               else completed_date <= effective_due_date end

    union all
    select safety_action_key, 'oversight_safety_actions.is_overdue disagrees with the interval at today'
    from {{ ref('oversight_safety_actions') }} o
    where o.is_overdue <> coalesce((select f.overdue_from_date <= current_date
                                           and (f.overdue_to_date is null or current_date < f.overdue_to_date)
                                    from {{ ref('fct_safety_action') }} f
                                    where f.safety_action_key = o.safety_action_key), false)
       or (o.is_overdue and o.status = 'cancelled')
)

select * from problems
