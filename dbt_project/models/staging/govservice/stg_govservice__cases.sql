-- 政务服务事项办件 from the raw zone, one row per case version (file row).
-- PII: applicant_id is a resident ID for 自然人 → keyed hash (sensitive); a USCC for 法人
-- is public and kept. An applicant of unknown type is treated as a person (hashed).
with source as (

    select * from {{ source('raw', 'govservice__cases') }}

),

renamed as (

    select
        case_id,
        item_code,
        item_name,
        channel,
        applied_at,
        completed_at,
        promised_days,
        dept,
        district_code,
        applicant_type,
        case
            when coalesce(applicant_type <> '法人', true) then pii_hash_id(applicant_id)
        end as applicant_id_hash,
        case
            when applicant_type = '法人' then upper(trim(applicant_id))
        end as applicant_uscc,
        visits,
        rating,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
