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
    cast(source_key as varchar) as source_key,
    cast(source_etag as varchar) as source_etag,
    cast(file_sha256 as varchar) as file_sha256,
    cast(bureau as varchar) as bureau,
    cast(dataset as varchar) as dataset,
    cast(business_date as date) as business_date,
    cast(status as varchar) as status,
    cast(rows_received as bigint) as rows_received,
    cast(rows_accepted as bigint) as rows_accepted,
    cast(rows_quarantined as bigint) as rows_quarantined,
    cast(rows_superseded as bigint) as rows_superseded,
    cast(contract_version as varchar) as contract_version,
    cast(uploaded_at as timestamptz) as uploaded_at,
    cast(processed_at as timestamptz) as processed_at,
    cast(run_id as varchar) as run_id,
    cast(reason as varchar) as reason
from source
