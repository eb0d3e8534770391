{#-
    HJ 633-2012 individual air quality index (IAQI), implemented once.

    long_relation: a relation / CTE name with one row per (key..., pollutant) holding
        pollutant         so2 | no2 | pm10 | co | o3 | pm25
        averaging_period  1h | 8h | 24h (the breakpoint table to use)
        concentration     µg/m³ (CO: mg/m³), null = not measured
    key_columns: the columns identifying the observation (e.g. station_code, observed_at).

    Returns key_columns, pollutant, concentration, iaqi:
        IAQI = ceil( (IAQI_hi - IAQI_lo) / (BP_hi - BP_lo) * (C - BP_lo) + IAQI_lo )
    between the two breakpoints around C (rounded up to an integer; the value is rounded
    to 6 decimals first so float noise cannot push an exact integer up), 500 above the
    top breakpoint of the table, null when C is null or negative.
-#}
{% macro aqi_iaqi(long_relation, key_columns) -%}
{%- set keys = key_columns | join(', ') -%}
select
    {% for k in key_columns %}obs.{{ k }}, {% endfor %}
    obs.pollutant,
    obs.concentration,
    max(
        case
            when obs.concentration is null or obs.concentration < 0 then null
            when obs.concentration > seg.top_concentration then 500
            when obs.concentration between seg.bp_lo and seg.bp_hi then
                cast(ceil(round(
                    (seg.iaqi_hi - seg.iaqi_lo) / (seg.bp_hi - seg.bp_lo)
                        * (obs.concentration - seg.bp_lo)
                    + seg.iaqi_lo,
                    6
                )) as integer)
        end
    ) as iaqi
from {{ long_relation }} as obs
left join (
    select
        pollutant,
        averaging_period,
        cast(iaqi as double) as iaqi_lo,
        cast(lead(iaqi) over w as double) as iaqi_hi,
        concentration as bp_lo,
        lead(concentration) over w as bp_hi,
        max(concentration) over (partition by pollutant, averaging_period) as top_concentration
    from {{ ref('aqi_breakpoints') }}
    window w as (partition by pollutant, averaging_period order by iaqi)
) as seg
    on obs.pollutant = seg.pollutant
    and obs.averaging_period = seg.averaging_period
    and seg.bp_hi is not null
group by all
{%- endmacro %}

{#-
    Pivot IAQI rows (from aqi_iaqi) back to one row per key: iaqi_<pollutant> columns,
    aqi_computed = the largest IAQI, max_iaqi_pollutants = the pollutant(s) with that IAQI
    (ties joined with ',', in the order of pollutant_labels). The caller reports the
    primary pollutant only when AQI > 50 (HJ 633-2012 §5.2).
    pollutant_labels: dict pollutant → label (e.g. {'pm25': 'PM2.5'}).
-#}
{% macro aqi_pivot(iaqi_relation, key_columns, pollutant_labels) -%}
select
    {% for k in key_columns %}{{ k }}, {% endfor %}
    {%- for p in pollutant_labels %}
    max(iaqi) filter (where pollutant = '{{ p }}') as iaqi_{{ p }},
    {%- endfor %}
    max(iaqi) as aqi_computed,
    string_agg(
        case {% for p, label in pollutant_labels.items() %}when pollutant = '{{ p }}' then '{{ label }}' {% endfor %}end,
        ',' order by case {% for p in pollutant_labels %}when pollutant = '{{ p }}' then {{ loop.index }} {% endfor %}end
    ) filter (where iaqi = max_iaqi) as max_iaqi_pollutants
from (
    select *, max(iaqi) over (partition by {{ key_columns | join(', ') }}) as max_iaqi
    from {{ iaqi_relation }}
) as iaqi_rows
group by {{ key_columns | join(', ') }}
{%- endmacro %}

{#- Labels of the six pollutants in HJ 633-2012 order. -#}
{% macro aqi_pollutant_labels() -%}
{{ return({'so2': 'SO2', 'no2': 'NO2', 'pm10': 'PM10', 'co': 'CO', 'o3': 'O3', 'pm25': 'PM2.5'}) }}
{%- endmacro %}
