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
        _source_key as source_key,
        _source_etag as source_etag,
        _file_sha256 as file_sha256,
        _row_number as row_number,
        _business_date as business_date,
        _uploaded_at as uploaded_at,
        _ingested_at as ingested_at,
        _run_id as run_id,
        _contract_version as contract_version

    from source

)

select * from renamed
