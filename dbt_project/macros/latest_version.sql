{#-
    Latest version of each record (spec §1): across files the version from the latest
    business date wins, then the latest upload (uploaded_at), then the latest ingestion;
    inside one file the last row wins (row_number). Works for daily upserted datasets
    and for append-only machine feeds (which are deduplicated on their primary key).

    relation:     a ref(), a relation or the name of a CTE with the staging lineage
                  columns (business_date, uploaded_at, ingested_at, row_number).
    key_columns:  list of primary-key column names.

        {{ latest_version(ref('stg_grid__events'), ['event_id']) }}
-#}
{% macro latest_version(relation, key_columns) -%}
select *
from {{ relation }}
qualify row_number() over (
    partition by {{ key_columns | join(', ') }}
    order by {{ latest_version_order() }}
) = 1
{%- endmacro %}

{#- The ordering "latest version first", for reuse in window functions and arg_max. -#}
{% macro latest_version_order(alias=none) -%}
{%- set p = (alias ~ '.') if alias else '' -%}
{{ p }}business_date desc, {{ p }}uploaded_at desc, {{ p }}ingested_at desc, {{ p }}row_number desc
{%- endmacro %}

{#-
    Incremental helpers for append-only machine feeds (delete+insert on the key).
    new_rows_filter: rows ingested after the newest row already in the target.
    not_superseded: drop batch rows for which the target already holds a later version
    (a late file for an older business date must not overwrite a newer version).
-#}
{% macro incremental_new_rows_filter(ingested_column='ingested_at', target_column='ingested_at') -%}
{%- if is_incremental() %}
where {{ ingested_column }} > (
    select coalesce(max({{ target_column }}), '1900-01-01'::timestamptz) from {{ this }}
)
{%- endif %}
{%- endmacro %}

{% macro incremental_not_superseded(batch_alias, key_columns) -%}
{%- if is_incremental() %}
where not exists (
    select 1
    from {{ this }} as existing
    where {% for k in key_columns %}existing.{{ k }} = {{ batch_alias }}.{{ k }} and {% endfor %}(
        existing.business_date > {{ batch_alias }}.business_date
        or (existing.business_date = {{ batch_alias }}.business_date
            and existing.uploaded_at > {{ batch_alias }}.uploaded_at)
    )
)
{%- endif %}
{%- endmacro %}
