{#-
    The lineage columns every row-level mart carries, after its own columns: the stable
    source_file_id (never the landing object key, which may hold personal data) and the
    file, row and run the row came from. relation_alias qualifies the columns when the
    mart selects from more than one relation.

        select ..., {{ mart_lineage_columns() }} from events
-#}
{% macro mart_lineage_columns(relation_alias=none) -%}
{%- set p = (relation_alias ~ '.') if relation_alias else '' -%}
{{ source_file_id(p ~ 'source_key') }} as source_file_id,
    {{ p }}file_sha256,
    {{ p }}row_number,
    {{ p }}business_date,
    {{ p }}uploaded_at,
    {{ p }}ingested_at,
    {{ p }}run_id,
    {{ p }}contract_version
{%- endmacro %}
