-- Governed 12345 hotline tickets: one row per ticket in its latest state.
with tickets as (

    select * from {{ ref('int_hotline__tickets_latest') }}

)

select
    ticket_id,
    received_at,
    closed_at,
    deadline_hours,
    received_at + to_hours(deadline_hours) as deadline_at,
    closed_at is not null as is_closed,
    case
        when closed_at is null or deadline_hours is null then null
        else closed_at <= received_at + to_hours(deadline_hours)
    end as is_closed_on_time,
    satisfaction,
    case satisfaction
        when '非常满意' then 100
        when '满意' then 80
        when '基本满意' then 60
        when '不满意' then 20
        when '非常不满意' then 0
    end::integer as satisfaction_score,
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
    {{ source_file_id('source_key') }} as source_file_id,
    file_sha256,
    row_number,
    business_date,
    uploaded_at,
    ingested_at,
    run_id,
    contract_version

from tickets
