-- Underground pipe network pressure per sensor and hour (地下管网压力监测), with
-- threshold breaches: one row per sensor and hour. Readings are deduplicated on
-- sensor_id + measured_at (latest version wins); a reading breaches when it is below its
-- threshold_low or above its threshold_high. is_breach = any breaching reading in the hour
-- (the "sensor-hours outside thresholds" KPI).
-- Incremental (delete+insert on sensor_id + hour_start): a run finds the sensor-hours
-- that received readings ingested after the newest one aggregated here and recomputes
-- only those hours (reading the raw rows of their time range only), and every hour
-- when a file was corrected since (file registry; the pre-hook deletes them first, so an
-- hour a correction removed completely disappears, whatever its date).
-- depends_on: {{ ref('stg_meta__files') }}
{{ config(
    materialized='incremental',
    unique_key=['sensor_id', 'hour_start'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ delete_corrected_hours('utilities', 'pipe_pressure') }}",
    post_hook="{{ record_build_mark() }}"
) }}

-- readings_all is read twice in the incremental branch: NOT MATERIALIZED keeps DuckDB from
-- materializing every raw reading first (the literal filters then reach the Delta scans).
with readings_all as not materialized (

    select *, date_trunc('hour', measured_at) as hour_start
    from {{ ref('stg_utilities__pipe_pressure') }}

),

{% if is_incremental() %}
{%- set corrected = has_corrected_source_keys('utilities', 'pipe_pressure') %}
touched_hours as (

    select distinct sensor_id, hour_start
    from readings_all
    where ingested_at > {{ incremental_watermark() }}
        or {{ corrected_hours_filter('utilities', 'pipe_pressure') }}

),

readings_in_scope as (

    select readings_all.*
    from readings_all
    semi join touched_hours
        on readings_all.sensor_id = touched_hours.sensor_id
        and readings_all.hour_start = touched_hours.hour_start
    {%- if not corrected %}
    -- the touched hours' time range as literals, so that it reaches the Delta scan
    {%- set scope = run_query(
        "select 'r' || coalesce(cast(min(date_trunc('hour', measured_at)) as varchar), '')"
        ~ ", 'r' || coalesce(cast(max(date_trunc('hour', measured_at)) as varchar), '') from "
        ~ ref('stg_utilities__pipe_pressure') ~ " where ingested_at > " ~ incremental_watermark()
    ) if execute else none %}
    {%- set first_hour = scope.columns[0].values()[0][1:] if scope else '' %}
    {%- set last_hour = scope.columns[1].values()[0][1:] if scope else '' %}
    {%- if first_hour %}
    where readings_all.measured_at >= '{{ first_hour }}'::timestamp
        and readings_all.measured_at < '{{ last_hour }}'::timestamp + interval 1 hour
    {%- else %}
    where false
    {%- endif %}
    {%- endif %}

),
{% else %}
    readings_in_scope as (

        select * from readings_all

    ),
{% endif %}

readings as (

    {{ latest_version('readings_in_scope', ['sensor_id', 'measured_at']) }}

),

flagged as (

    select
        *,
        coalesce(pressure_mpa < threshold_low, false) as is_below_low,
        coalesce(pressure_mpa > threshold_high, false) as is_above_high
    from readings

),

final as (

    select
        sensor_id,
        hour_start,
        cast(hour_start as date) as hour_date,
        arg_max(network_type, measured_at) as network_type,
        arg_max(district_code, measured_at) as district_code,
        count(*) as reading_count,
        count(pressure_mpa) as valid_reading_count,
        min(pressure_mpa) as min_pressure_mpa,
        avg(pressure_mpa) as avg_pressure_mpa,
        max(pressure_mpa) as max_pressure_mpa,
        arg_max(threshold_low, measured_at) as threshold_low,
        arg_max(threshold_high, measured_at) as threshold_high,
        count(*) filter (where is_below_low) as below_low_count,
        count(*) filter (where is_above_high) as above_high_count,
        bool_or(is_below_low) as is_breach_low,
        bool_or(is_above_high) as is_breach_high,
        bool_or(is_below_low or is_above_high) as is_breach,

        -- lineage: the most recently ingested contributing file
        {{ source_file_id('arg_max(source_key, ingested_at)') }} as source_file_id,
        arg_max(file_sha256, ingested_at) as file_sha256,
        max(business_date) as business_date,
        max(ingested_at) as ingested_at,
        count(distinct source_key) as source_file_count

    from flagged
    group by sensor_id, hour_start

)

select * from final
