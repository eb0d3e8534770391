-- Governed government-service cases (政务服务办件): one row per case in its latest state.
-- A natural-person applicant's ID is a keyed hash; a legal person's USCC is kept.
with cases as (

    select * from {{ ref('int_govservice__cases_enriched') }}

)

select
    case_id,
    item_code,
    item_name,
    channel,
    is_mobile,
    applied_at,
    completed_at,
    is_completed,
    handling_hours,
    promised_days,
    department_id,
    department_name,
    district_code,
    applicant_type,
    applicant_id_hash,
    applicant_uscc,
    visits,
    rating,
    rating_score,

    -- lineage
    {{ mart_lineage_columns() }}

from cases
