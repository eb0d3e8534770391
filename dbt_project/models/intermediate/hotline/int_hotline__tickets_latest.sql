-- Latest version of each ticket: the latest business date wins, then the latest upload,
-- then the latest ingestion, then the last row of the file.
select *
from {{ ref('stg_hotline__tickets') }}
qualify row_number() over (
    partition by ticket_id
    order by business_date desc, uploaded_at desc, ingested_at desc, row_number desc
) = 1
