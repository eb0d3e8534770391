-- Governed government-service cases (政务服务办件): one row per case in its latest state.
-- A natural-person applicant's ID is a keyed hash; a legal person's USCC is kept.
with cases as (

    select * from {{ ref('int_govservice__cases_latest') }}

)

select
    case_id,
    item_code,
    item_name,
    channel,
    channel = '掌上' as is_mobile,
    applied_at,
    completed_at,
    completed_at is not null as is_completed,
    {{ hours_between('applied_at', 'completed_at') }} as handling_hours,
    promised_days,
    {{ department_id('dept') }} as department_id,
    trim(dept) as department_name,
    district_code,
    applicant_type,
    applicant_id_hash,
    applicant_uscc,
    visits,
    rating,
    {{ satisfaction_score('rating') }} as rating_score,

    -- lineage
    {{ source_file_id('source_key') }} as source_file_id,
    file_sha256,
    row_number,
    business_date,
    uploaded_at,
    ingested_at,
    run_id,
    contract_version

from cases
