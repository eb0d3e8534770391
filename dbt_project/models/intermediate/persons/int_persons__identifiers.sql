-- Every appearance of a person across bureaus, by keyed hash (HMAC) of a phone or resident ID
-- number: the same person joins across datasets without the number ever being in clear text.
with appearances as (
    select
        caller_phone_hash as person_id, 'phone' as identifier_kind, 'hotline.tickets' as dataset,
        received_at as seen_at
    from {{ ref('int_hotline__tickets_latest') }}
    where caller_phone_hash is not null
    union all
    select resident_phone_hash, 'phone', 'community.service_requests', submitted_at
    from {{ ref('int_community__service_requests_latest') }}
    where resident_phone_hash is not null
    union all
    select applicant_id_hash, 'resident_id', 'govservice.cases', applied_at
    from {{ ref('int_govservice__cases_latest') }}
    where applicant_id_hash is not null
)

select * from appearances
