-- 12345 hotline tickets from the raw zone, one row per ticket version (file row).
-- PII: caller_phone → keyed hash, caller_name dropped (sharing: none), content scrubbed.
with source as (

    select * from {{ source('raw', 'hotline__tickets') }}

),

renamed as (

    select
        ticket_id,
        received_at,
        channel,
        request_type,
        topic,
        district_code,
        grid_code,
        pii_hash_phone(caller_phone) as caller_phone_hash,
        pii_scrub(content) as content_scrubbed,
        first_receiver_dept,
        handling_dept,
        transfer_count,
        closed_at,
        deadline_hours,
        satisfaction,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
