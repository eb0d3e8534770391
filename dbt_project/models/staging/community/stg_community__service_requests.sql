-- 智慧社区服务请求 from the raw zone, one row per request version (file row).
-- PII: resident_phone → keyed hash of the normalised number.
with source as (

    select * from {{ source('raw', 'community__service_requests') }}

),

renamed as (

    select
        request_id,
        community_name,
        grid_code,
        service_type,
        channel,
        submitted_at,
        completed_at,
        pii_hash_phone(resident_phone) as resident_phone_hash,
        rating,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
