{#-
    The raw zone's lineage columns, renamed without the leading underscore.
    Use in staging models only:  select ..., {{ lineage_columns() }} from source
-#}
{% macro lineage_columns() -%}
        _source_key as source_key,
        _source_etag as source_etag,
        _file_sha256 as file_sha256,
        _row_number as row_number,
        _business_date as business_date,
        _uploaded_at as uploaded_at,
        _ingested_at as ingested_at,
        _run_id as run_id,
        _contract_version as contract_version
{%- endmacro %}
