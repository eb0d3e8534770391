-- One row per person identifier (keyed hash of a phone or resident ID number), conformed across
-- the hotline, community and government-service datasets.
select
    person_id,
    identifier_kind,
    min(seen_at)::date as first_seen_date,
    max(seen_at)::date as last_seen_date,
    count(*) filter (where dataset = 'hotline.tickets') as hotline_ticket_count,
    count(*) filter (where dataset = 'community.service_requests') as community_request_count,
    count(*) filter (where dataset = 'govservice.cases') as service_case_count,
    count(distinct dataset) as dataset_count,
    count(distinct dataset) > 1 as is_cross_bureau
from {{ ref('int_persons__identifiers') }}
group by person_id, identifier_kind
