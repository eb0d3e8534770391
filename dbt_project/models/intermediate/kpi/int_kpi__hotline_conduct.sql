-- Hotline conduct KPIs (spec §5), month of received_at, by district (and by first-receiver
-- department for first-receiver responsibility). Tickets received by the report time.
-- first_receiver_responsibility_rate (首接负责制): share of tickets handled without
--   transfer (transfer_count = 0) or by the first receiver (handling_dept =
--   first_receiver_dept).
-- repeat_request_rate (重复诉求, lower is better): share of tickets whose caller (hashed
--   phone) raised the same topic within the previous 30 days (another ticket received in
--   [received_at - 30 days, received_at); same instant: the lower ticket_id is earlier).
--   Tickets without a phone cannot be repeats but are counted in the denominator.

with report as (

    select {{ report_at() }} as report_at

),

tickets as (

    select tickets.*
    from {{ ref('int_hotline__tickets_enriched') }} as tickets
    cross join report
    where tickets.received_at <= report.report_at

),

flagged as (

    select
        cast(date_trunc('month', t.received_at) as date) as kpi_month,
        t.district_code,
        coalesce({{ department_id('t.first_receiver_dept') }}, 'unassigned') as department_code,
        coalesce(nullif(trim(t.first_receiver_dept), ''), '未指定') as department_name,
        coalesce(t.transfer_count = 0, false)
        or coalesce(trim(t.handling_dept) = trim(t.first_receiver_dept), false)
            as is_first_receiver_handled,
        exists(
            select 1
            from tickets as p
            where p.caller_phone_hash = t.caller_phone_hash
                and p.topic = t.topic
                and p.ticket_id <> t.ticket_id
                and p.received_at >= t.received_at - interval 30 day
                and (
                    p.received_at < t.received_at
                    or (p.received_at = t.received_at and p.ticket_id < t.ticket_id)
                )
        ) as is_repeat
    from tickets as t

)

select
    kpi_month,
    'first_receiver_responsibility_rate' as kpi_code,
    district_code,
    case when grouping(department_code) = 0 then 'department' else 'district' end
        as dimension_type,
    case when grouping(department_code) = 0 then department_code else district_code end
        as dimension_code,
    case when grouping(department_code) = 0 then any_value(department_name) end
        as dimension_name,
    cast(count_if(is_first_receiver_handled) as double) as numerator,
    cast(count(*) as double) as denominator,
    count_if(is_first_receiver_handled) / count(*) as kpi_value
from flagged
group by kpi_month, district_code, rollup(department_code)

union all

select
    kpi_month,
    'repeat_request_rate' as kpi_code,
    district_code,
    'district' as dimension_type,
    district_code as dimension_code,
    cast(null as varchar) as dimension_name,
    cast(count_if(is_repeat) as double) as numerator,
    cast(count(*) as double) as denominator,
    count_if(is_repeat) / count(*) as kpi_value
from flagged
group by kpi_month, district_code
