-- The file registry (one row per processed file version), typed and renamed.
-- A lake where no file has been processed yet has no registry table: then this view is
-- empty (same columns), so `dbt build` works on a fresh lake.
-- depends_on: {{ source('lake_meta', 'meta__files') }}
{%- set registry_uri = env_var('SHUZHONG_LAKE_URI') ~ '/_meta/files' %}
{%- set registry_exists = true %}
{%- if execute %}
    {%- set found = run_query(
        "select count(*) from glob('" ~ registry_uri | replace("'", "''") ~ "/_delta_log/*.json')"
    ) %}
    {%- set registry_exists = found.columns[0].values()[0] > 0 %}
{%- endif %}

with source as (

    {%- if registry_exists %}
    select * from {{ source('lake_meta', 'meta__files') }}
{%- else %}
        select
            null::varchar as source_key,
            null::varchar as source_etag,
            null::varchar as file_sha256,
            null::varchar as bureau,
            null::varchar as dataset,
            null::date as business_date,
            null::varchar as status,
            null::bigint as rows_received,
            null::bigint as rows_accepted,
            null::bigint as rows_quarantined,
            null::bigint as rows_superseded,
            null::bigint as raw_table_version,
            null::varchar as contract_version,
            null::timestamptz as uploaded_at,
            null::timestamptz as processed_at,
            null::varchar as run_id,
            null::varchar as receipt_key,
            null::varchar as reason
        where false
    {%- endif %}

)

select
    source_key::varchar as source_key,
    source_etag::varchar as source_etag,
    file_sha256::varchar as file_sha256,
    bureau::varchar as bureau,
    dataset::varchar as dataset,
    business_date::date as business_date,
    status::varchar as status,
    rows_received::bigint as rows_received,
    rows_accepted::bigint as rows_accepted,
    rows_quarantined::bigint as rows_quarantined,
    rows_superseded::bigint as rows_superseded,
    contract_version::varchar as contract_version,
    uploaded_at::timestamptz as uploaded_at,
    processed_at::timestamptz as processed_at,
    run_id::varchar as run_id,
    reason::varchar as reason
from source
