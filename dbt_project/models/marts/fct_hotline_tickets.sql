-- Governed 12345 hotline tickets: one row per ticket in its latest state.
with tickets as (

    select * from {{ ref('int_hotline__tickets_enriched') }}

)

select
    ticket_id,
    received_at,
    closed_at,
    deadline_hours,
    deadline_at,
    is_closed,
    is_closed_on_time,
    satisfaction,
    satisfaction_score,
    district_code,
    grid_code,
    channel,
    request_type,
    topic,
    first_receiver_dept,
    handling_dept,
    transfer_count,
    caller_phone_hash,
    content_scrubbed,

    -- lineage
    {{ mart_lineage_columns() }}

from tickets
