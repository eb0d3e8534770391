-- Departments (部门): one row per department name seen in any governed dataset
-- (hotline first receiver / handler, government-service case department, grid event
-- handler). department_id = md5 of the trimmed name: stable across runs and datasets.
with names as (

    select first_receiver_dept as department_name, 'hotline.tickets' as dataset
    from {{ ref('int_hotline__tickets_latest') }}
    union all
    select handling_dept, 'hotline.tickets' from {{ ref('int_hotline__tickets_latest') }}
    union all
    select dept, 'govservice.cases' from {{ ref('int_govservice__cases_latest') }}
    union all
    select handling_dept, 'grid.events' from {{ ref('int_grid__events_latest') }}

),

cleaned as (

    select trim(department_name) as department_name, dataset
    from names
    where nullif(trim(department_name), '') is not null

)

select
    {{ department_id('department_name') }} as department_id,
    department_name,
    string_agg(distinct dataset, ',' order by dataset) as seen_in_datasets
from cleaned
group by department_name
