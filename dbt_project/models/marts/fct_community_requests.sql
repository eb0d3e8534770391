-- Governed smart-community service requests (智慧社区服务请求): one row per request in
-- its latest state. Resident phone is a keyed hash. District = first six digits of the
-- grid code when one of the six district codes, else null (spec §2).
with requests as (

    select * from {{ ref('int_community__service_requests_enriched') }}

)

select
    request_id,
    community_name,
    grid_code,
    district_code,
    service_type,
    channel,
    submitted_at,
    completed_at,
    is_completed,
    handling_hours,
    resident_phone_hash,
    rating,
    is_rated,
    is_rated_good,

    -- lineage
    {{ mart_lineage_columns() }}

from requests
