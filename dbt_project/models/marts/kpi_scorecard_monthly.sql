-- The KPI scorecard (spec §5): every KPI of the center in one long table, monthly, with
-- targets, baselines and gaps — kpi_hotline_monthly (district), kpi_city_monthly
-- (district and its breakdowns) and kpi_bureau_data_quality_monthly (city-wide, one
-- dimension row per bureau dataset, district_code 370400 枣庄市).
with hotline as (

    select
        kpi_month, district_code, district_name,
        'district' as dimension_type, district_code as dimension_code,
        district_name as dimension_name,
        kpi_code, kpi_name, unit, kpi_value, numerator, cast(denominator as double) as denominator,
        target_value, comparator, baseline_value, gap, is_target_met, report_at
    from {{ ref('kpi_hotline_monthly') }}

),

city as (

    select
        kpi_month, district_code, district_name, dimension_type, dimension_code,
        dimension_name, kpi_code, kpi_name, unit, kpi_value, numerator, denominator,
        target_value, comparator, baseline_value, gap, is_target_met, report_at
    from {{ ref('kpi_city_monthly') }}

),

data_quality as (

    select
        kpi_month, '370400' as district_code, '枣庄市' as district_name,
        'bureau_dataset' as dimension_type, bureau || '.' || dataset as dimension_code,
        bureau as dimension_name,
        kpi_code, kpi_name, unit, kpi_value, numerator, denominator,
        target_value, comparator, baseline_value, gap, is_target_met, report_at
    from {{ ref('kpi_bureau_data_quality_monthly') }}

)

select * from hotline
union all
select * from city
union all
select * from data_quality
