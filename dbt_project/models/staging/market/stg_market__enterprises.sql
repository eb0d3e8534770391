-- 市场主体登记信息 from the raw zone, one row per entity version (file row).
-- PII: legal_rep_id (sharing: none) is never selected; legal_rep_name masked (张*).
with source as (

    select * from {{ source('raw', 'market__enterprises') }}

),

renamed as (

    select
        upper(trim(uscc)) as uscc,
        name as enterprise_name,
        pii_mask_name(legal_rep_name) as legal_rep_name_masked,
        entity_type,
        industry_code,
        registered_capital_10k_cny,
        established_on as established_date,
        status,
        address,
        district_code,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
