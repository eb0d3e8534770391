-- Enterprises (市场主体): one row per unified social credit code, latest registration state.
-- legal_rep_id (sharing: none) never leaves the raw zone; the legal representative's
-- name is masked.
with enterprises as (

    select * from {{ ref('int_market__enterprises_latest') }}

)

select
    uscc as enterprise_id,
    uscc,
    enterprise_name,
    legal_rep_name_masked,
    entity_type,
    industry_code,
    left(industry_code, 1) as industry_section,
    registered_capital_10k_cny,
    established_date,
    status,
    status in ('存续', '在业') as is_active,
    address,
    district_code,

    -- lineage
    {{ mart_lineage_columns() }}

from enterprises
