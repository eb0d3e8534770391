-- Checkpoint traffic flow per hour: one row per checkpoint and hour, aggregated from
-- fct_traffic_flow_5min. Incremental (delete+insert on checkpoint_id + hour_start): a run
-- recomputes only the hours that received 5-minute rows ingested after the newest one
-- already aggregated here, and every hour when a file was corrected since (file registry;
-- the pre-hook deletes them first, so an hour a correction removed completely disappears,
-- whatever its date).
-- depends_on: {{ ref('stg_meta__files') }}
-- avg_speed_kmh is weighted by vehicle_count (plain mean when no vehicle was counted);
-- congestion_index is the mean over the hour's intervals.
{{ config(
    materialized='incremental',
    unique_key=['checkpoint_id', 'hour_start'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ delete_corrected_hours('transport', 'traffic_flow') }}",
    post_hook="{{ record_build_mark() }}"
) }}

-- five_min is read twice in the incremental branch: NOT MATERIALIZED keeps DuckDB from
-- materializing the whole 5-minute fact first (the filters then reach each scan).
with five_min as not materialized (

    select * from {{ ref('fct_traffic_flow_5min') }}

),

{% if is_incremental() %}
touched_hours as (

    select distinct checkpoint_id, hour_start
    from five_min
    where ingested_at > {{ incremental_watermark() }}
        or {{ corrected_hours_filter('transport', 'traffic_flow') }}

),

intervals as (

    select five_min.*
    from five_min
    semi join touched_hours
        on five_min.checkpoint_id = touched_hours.checkpoint_id
        and five_min.hour_start = touched_hours.hour_start

),
{% else %}
    intervals as (

        select * from five_min

    ),
{% endif %}

final as (

    select
        checkpoint_id,
        hour_start,
        arg_max(road_name, interval_start) as road_name,
        arg_max(district_code, interval_start) as district_code,
        cast(hour_start as date) as hour_date,
        {{ is_peak_hour('hour_start') }} as is_peak_hour,
        count(*) as interval_count,
        cast(sum(vehicle_count) as bigint) as vehicle_count,
        coalesce(
            sum(avg_speed_kmh * vehicle_count) / nullif(sum(vehicle_count) filter (
                where avg_speed_kmh is not null
            ), 0),
            avg(avg_speed_kmh)
        ) as avg_speed_kmh,
        avg(congestion_index) as avg_congestion_index,
        max(congestion_index) as max_congestion_index,

        -- lineage: the most recently ingested contributing file
        arg_max(source_file_id, ingested_at) as source_file_id,
        arg_max(file_sha256, ingested_at) as file_sha256,
        max(business_date) as business_date,
        max(ingested_at) as ingested_at,
        count(distinct source_file_id) as source_file_count

    from intervals
    group by checkpoint_id, hour_start

)

select * from final
