-- 网格事件 from the raw zone, one row per event version (file row).
-- PII: description (free text, personal) scrubbed of ID and phone numbers.
with source as (

    select * from {{ source('raw', 'grid__events') }}

),

renamed as (

    select
        event_id,
        grid_code,
        reporter_id,
        reported_at,
        category,
        pii_scrub(description) as description_scrubbed,
        handling_dept,
        resolved_at,
        status,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
