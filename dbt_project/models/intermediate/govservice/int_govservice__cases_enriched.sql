-- Government-service cases in their latest state with the row-level measures the fact and
-- the KPI models share (channel 掌上, completion, handling hours, department, rating score).
with cases as (

    select * from {{ ref('int_govservice__cases_latest') }}

)

select
    *,
    channel = '掌上' as is_mobile,
    completed_at is not null as is_completed,
    {{ hours_between('applied_at', 'completed_at') }} as handling_hours,
    {{ department_id('dept') }} as department_id,
    trim(dept) as department_name,
    {{ satisfaction_score('rating') }} as rating_score
from cases
