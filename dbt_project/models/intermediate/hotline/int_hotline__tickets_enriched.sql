-- Hotline tickets in their latest state with the row-level measures the fact and the KPI
-- models share: deadline, closure, on-time closure and the 100-point satisfaction score.
with tickets as (

    select * from {{ ref('int_hotline__tickets_latest') }}

)

select
    *,
    received_at + to_hours(deadline_hours) as deadline_at,
    closed_at is not null as is_closed,
    case
        when closed_at is null or deadline_hours is null then null
        else closed_at <= received_at + to_hours(deadline_hours)
    end as is_closed_on_time,
    {{ satisfaction_score('satisfaction') }} as satisfaction_score
from tickets
