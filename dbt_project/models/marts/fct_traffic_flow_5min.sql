-- Governed checkpoint traffic flow (卡口交通流量): one row per checkpoint and 5-minute
-- interval. Incremental (delete+insert on checkpoint_id + interval_start): a run reads
-- only rows ingested after the newest row here, keeps the latest version of each key in
-- that batch, and never replaces a row with a version from an older business date.
-- A file re-submitted under the same object key first has its earlier rows deleted
-- (pre-hook), so the correction replaces exactly what the earlier version contributed;
-- the file registry also names corrections that landed no row (all quarantined).
-- A key whose winning version the correction removed shows its next-latest version
-- (another file of that business date) again.
-- depends_on: {{ ref('stg_meta__files') }}
{{ config(
    materialized='incremental',
    unique_key=['checkpoint_id', 'interval_start'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook=[
        "{{ delete_resubmitted_source_rows(ref('stg_transport__traffic_flow'), 'transport', 'traffic_flow') }}",
        "{{ reset_tested_mark() }}"
    ],
    post_hook="{{ record_build_mark() }}"
) }}
{%- set keys = ['checkpoint_id', 'interval_start'] %}

with new_rows as (

    select * from {{ ref('stg_transport__traffic_flow') }} as s  -- noqa: AL05
    {{ incremental_new_or_uncovered_rows_filter('s', keys, 'transport', 'traffic_flow') }}

),

latest as (

    {{ latest_version('new_rows', keys) }}

),

batch as (

    select * from latest as b  -- noqa: AL05
    {{ incremental_not_superseded('b', keys) }}

)

select
    checkpoint_id,
    road_name,
    district_code,
    interval_start,
    interval_start + interval 5 minute as interval_end,
    date_trunc('hour', interval_start) as hour_start,
    cast(interval_start as date) as interval_date,
    {{ is_peak_hour('interval_start') }} as is_peak_hour,
    vehicle_count,
    avg_speed_kmh,
    congestion_index,

    -- lineage
    {{ mart_lineage_columns() }}

from batch
