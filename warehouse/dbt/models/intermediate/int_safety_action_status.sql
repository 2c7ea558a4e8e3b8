{#- Grain: one row per canonical safety action, deleted ones included.

    Overdue safety action, as at any date D, one definition: an action is overdue on D when it has a (revised) due
    date before D and was not completed by D; a cancelled action never counts. Stored as the interval in which it
    is overdue: overdue_from_date <= D and (overdue_to_date is null or D < overdue_to_date). An action marked
    completed without a completed date is taken as closed (it is reported as inconsistent to the provider). -#}
select
    *,
    case when status_code = 'cancelled' or effective_due_date is null then null
         when status_code = 'completed' and completed_date is null then null
         when completed_date is not null and completed_date <= effective_due_date then null
         else effective_due_date + 1 end as overdue_from_date,
    case when status_code = 'cancelled' or effective_due_date is null then null
         when completed_date is not null and completed_date > effective_due_date then completed_date end
        as overdue_to_date,
    case when completed_date is null or effective_due_date is null then null
         else completed_date <= effective_due_date end as completed_on_time
from {{ ref('stg_canonical__safety_actions') }}
