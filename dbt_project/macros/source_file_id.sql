{#-
    The stable id of a source file that marts and published tables carry instead of its
    landing object key (spec §1: object keys and file names may hold personal data and never
    reach published tables): the first 16 hex digits of sha256 of the UTF-8 key. The same
    definition as pipelines.ingest.keys.source_file_id.

        select ..., {{ source_file_id('source_key') }} as source_file_id from ...
-#}
{% macro source_file_id(key_column) -%}
left(sha256({{ key_column }}), 16)
{%- endmacro %}
