-- Governed city-operation risk warnings (城市运行风险预警): one row per warning in its
-- latest state; expires_at = issued_at + window_hours (the window in which an incident
-- of the same type in the same district confirms the warning).
with warnings as (

    select * from {{ ref('int_emergency__risk_warnings_enriched') }}

)

select
    warning_id,
    risk_type,
    issued_at,
    expires_at,
    window_hours,
    district_code,
    grid_code,
    warning_level,
    warning_source,

    -- lineage
    {{ mart_lineage_columns() }}

from warnings
