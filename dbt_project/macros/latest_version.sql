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
where {{ ingested_column }} > {{ incremental_watermark(target_column) }}
{%- endif %}
{%- endmacro %}

{#-
    The lower bound of the rows a run of an incremental fact treats as new (rows with a later
    ingested_at; registry rows with a later processed_at), as a literal read once when the
    model is compiled (before its pre-hooks run). A constant comparison reaches the Delta scan
    of the raw zone (row groups are skipped on their statistics); a scalar subquery in its
    place makes DuckDB read every raw row from S3.

    It is the model's build mark (hub_build_marks: the `visible_through` of its last build
    in a transform run), else the newest `column` already in the model. The mark is the
    rigorous one: the transform sensor takes `visible_through` at a moment no ingestion or
    reprocess run is active, so every row stamped before it was committed before the build
    read the raw zone. The newest row is not: a run that stamped its rows earlier but
    committed them after the build read (concurrent ingestion runs commit in any order)
    would fall below it and never be picked up. Rows after the mark that the build already
    saw are read again by the next build; the facts' merges are idempotent.
-#}
{% macro incremental_watermark(column='ingested_at') -%}
{%- if execute and is_incremental() -%}
{%- set mark = build_mark() -%}
{%- if mark -%}
'{{ mark }}'::timestamptz
{%- else -%}
{%- set result = run_query(
    "select 'w' || cast(coalesce(max(" ~ column ~ "), '1900-01-01'::timestamptz) as varchar) from " ~ this
) -%}
'{{ result.columns[0].values()[0][1:] }}'::timestamptz
{%- endif -%}
{%- else -%}
'1900-01-01'::timestamptz
{%- endif -%}
{%- endmacro %}

{#- The table of build marks (one row per incremental fact), in the working database. -#}
{% macro build_marks_relation() -%}
{{ return(api.Relation.create(database=target.database, schema=target.schema, identifier='hub_build_marks')) }}
{%- endmacro %}

{#- on-run-start: the build-mark table exists before any model is compiled. -#}
{% macro create_build_marks() -%}
create table if not exists {{ build_marks_relation() }} (
    model_name varchar primary key,
    visible_through timestamptz not null,
    recorded_at timestamptz not null
)
{%- endmacro %}

{#- The current model's build mark as text, or none (no mark yet, or no mark table). -#}
{% macro build_mark() -%}
{%- set rel = build_marks_relation() -%}
{%- if adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is none -%}
{{ return(none) }}
{%- endif -%}
{%- set result = run_query(
    "select 'w' || cast(visible_through as varchar) from " ~ rel ~ " where model_name = '" ~ this.identifier ~ "'"
) -%}
{{ return(result.columns[0].values()[0][1:] if result.rows | length else none) }}
{%- endmacro %}

{#-
    Post-hook of the incremental facts (inside the model's transaction, so the mark moves with
    the rows): record the run's `visible_through` as the model's build mark. The transform
    asset sets it from the sensor's tag in the environment variable SHUZHONG_VISIBLE_THROUGH,
    read at run time only: a dbt var that changes with every run would make dbt parse the
    whole project again each time (a var change voids partial parsing: 3.6 s a transform).
    Without it (a dbt run by hand) the mark stays: the next transform reads from the older
    mark, which is safe.
-#}
{% macro record_build_mark() -%}
{%- set through = env_var('SHUZHONG_VISIBLE_THROUGH', '') if execute else '' -%}
{%- if through -%}
{%- set through = modules.datetime.datetime.fromisoformat(through).isoformat() -%}
insert into {{ build_marks_relation() }} (model_name, visible_through, recorded_at)
values ('{{ this.identifier }}', '{{ through }}'::timestamptz, current_timestamp)
on conflict (model_name) do update set visible_through = excluded.visible_through, recorded_at = excluded.recorded_at
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}

{#- True when corrected_source_keys(bureau, dataset) holds a key (read when the model is compiled). -#}
{% macro has_corrected_source_keys(bureau, dataset) -%}
{%- if execute and is_incremental() -%}
{%- set result = run_query("select count(*) from (" ~ corrected_source_keys(bureau, dataset) ~ ")") -%}
{{ return(result.columns[0].values()[0] > 0) }}
{%- else -%}
{{ return(false) }}
{%- endif -%}
{%- endmacro %}

{#-
    The same, plus the rows a correction uncovered: on the business date of a file the
    registry shows corrected (corrected_source_keys), staging rows whose key is no longer
    in the target (the corrected file's earlier version held the winning version of the
    key and the pre-hook deleted it) come back, so the next-latest version of the key
    (another file of that date) is shown again. Staging must be aliased `alias`.
-#}
{% macro incremental_new_or_uncovered_rows_filter(alias, key_columns, bureau, dataset) -%}
{%- if is_incremental() %}
where {{ alias }}.ingested_at > {{ incremental_watermark() }}
{%- if has_corrected_source_keys(bureau, dataset) %}
or (
    {{ alias }}.business_date in (
        select business_date from ({{ corrected_source_keys(bureau, dataset) }})
    )
    and not exists (
        select 1
        from {{ this }} as existing
        where {% for k in key_columns %}existing.{{ k }} = {{ alias }}.{{ k }}{% if not loop.last %} and {% endif %}{% endfor %}
    )
)
{%- endif %}
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

{#-
    Corrected files of a dataset since the model was last built (processed after
    incremental_watermark()), from the file registry: object keys with a new accepted
    version (another earlier accepted version of the key had other bytes), or re-validated
    by a reprocess (registry status `reprocessed`: the same bytes against the current
    contract). One row per key: its source_file_id (the id the marts carry: they never hold
    the key itself), file_sha256 (of its latest version), business_date, and is_reprocessed
    (a reprocess since: every row of the key may have changed, whatever its bytes). A
    correction or reprocess whose rows were all quarantined (or that holds no rows) lands
    nothing in the raw zone, so only the registry tells that the key's earlier rows are
    gone (spec §1).
    The model must declare   -- depends_on: {{ ref('stg_meta__files') }}
-#}
{% macro corrected_source_keys(bureau, dataset, since=none, registry=none) -%}
{%- set watermark = ("'" ~ since ~ "'::timestamptz") if since else incremental_watermark() -%}
select
    {{ source_file_id('source_key') }} as source_file_id,
    arg_max(file_sha256, processed_at) as file_sha256,
    arg_max(business_date, processed_at) as business_date,
    bool_or(status = 'reprocessed' and processed_at > {{ watermark }}) as is_reprocessed
from {{ registry or ref('stg_meta__files') }}
where bureau = '{{ bureau }}'
    and dataset = '{{ dataset }}'
    and status in ('accepted', 'reprocessed')
group by source_key
having (count(distinct file_sha256) > 1 or bool_or(status = 'reprocessed'))
    and max(processed_at) > {{ watermark }}
{%- endmacro %}

{#-
    Pre-hook of the incremental machine-feed facts: a file re-submitted under the same
    object key replaces exactly the rows its earlier version contributed (spec §1). Before
    the batch is merged, delete the rows of every object key that has newly ingested rows,
    matched on source_file_id (the target holds the key's id, staging the key itself),
    so rows missing from the corrected file disappear too, and the rows of an earlier
    version of every key the registry shows corrected (also when the correction landed no
    row at all), and every row of a key reprocessed since (its bytes are the same, its rows
    may not be: a reprocess whose rows are now all quarantined lands none). The batch then
    re-inserts the corrected rows (their ingested_at is newer than anything left here).

        config(pre_hook="{{ delete_resubmitted_source_rows(ref('stg_x'), 'bureau', 'dataset') }}")
-#}
{% macro delete_resubmitted_source_rows(staging_relation, bureau, dataset) -%}
{%- if is_incremental() -%}
delete from {{ this }}
where source_file_id in (
    select {{ source_file_id('source_key') }}
    from (
        select distinct source_key
        from {{ staging_relation }}
        where ingested_at > {{ incremental_watermark() }}
    )
)
{#- Without a corrected key since the watermark the two clauses below hold for no row; left
    out, the delete is one semi-join (with them DuckDB tests each row against the or-ed
    subqueries: 2 s on a 6.3 M-row fact). #}
{%- if has_corrected_source_keys(bureau, dataset) %}
or (
    source_file_id in (select source_file_id from ({{ corrected_source_keys(bureau, dataset) }}))
    and file_sha256 not in (
        select file_sha256 from ({{ corrected_source_keys(bureau, dataset) }})
    )
)
or source_file_id in (
    select source_file_id from ({{ corrected_source_keys(bureau, dataset) }}) where is_reprocessed
)
{%- endif %}
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}

{#-
    Pre-hook of the hourly aggregates of a machine feed: when a file was corrected since the
    last build (corrected_source_keys), every hour is deleted here and recomputed by the model
    (its touched hours are then all hours: corrected_hours_filter). A correction may remove
    rows of any date (a late reading of the day before sent in the same file), and the rows it
    replaced are gone from staging, so only a full recompute is right whatever the file held.
    Corrections are rare; runs without one stay incremental.

        config(pre_hook="{{ delete_corrected_hours('transport', 'traffic_flow') }}")
-#}
{% macro delete_corrected_hours(bureau, dataset) -%}
{%- if has_corrected_source_keys(bureau, dataset) -%}
delete from {{ this }}
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}

{#- In touched_hours: true when a file of the dataset was corrected since the last build (a
    literal, so that the filter it is or-ed with still reaches the scan). -#}
{% macro corrected_hours_filter(bureau, dataset) -%}
{{ 'true' if has_corrected_source_keys(bureau, dataset) else 'false' }}
{%- endmacro %}
