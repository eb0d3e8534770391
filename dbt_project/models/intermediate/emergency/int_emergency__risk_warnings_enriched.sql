-- Risk warnings in their latest state; expires_at = issued_at + window_hours (the window in
-- which an incident of the same type in the same district confirms the warning).
with warnings as (

    select * from {{ ref('int_emergency__risk_warnings_latest') }}

)

select
    *,
    issued_at + to_hours(window_hours) as expires_at
from warnings
