-- Government service items (政务服务事项): one row per item code, named as in its most
-- recent case, with the handling department and
-- the volume of cases.
with cases as (

    select * from {{ ref('int_govservice__cases_enriched') }}

),

latest_name as (

    select
        item_code,
        arg_max(item_name, applied_at) as item_name,
        arg_max(department_name, applied_at) as department_name,
        arg_max(department_id, applied_at) as department_id
    from cases
    group by item_code

),

volumes as (

    select
        item_code,
        count(*) as case_count,
        min(applied_at) as first_applied_at,
        max(applied_at) as last_applied_at
    from cases
    group by item_code

)

select
    latest_name.item_code,
    latest_name.item_name,
    latest_name.department_id,
    latest_name.department_name,
    volumes.case_count,
    volumes.first_applied_at,
    volumes.last_applied_at
from latest_name
inner join volumes on latest_name.item_code = volumes.item_code
