-- City KPIs by month × district [× department / community / network type / peak period]
-- (spec §5), one long table with targets, baselines and gaps from the kpi_targets seed.
-- The district totals of hotline on-time closure and citizen satisfaction are in
-- kpi_hotline_monthly, their department breakdown here (int_kpi__hotline_departments);
-- the city-operations KPIs come from the machine-feed marts (city_operations_measures);
-- bureau data quality in kpi_bureau_data_quality_monthly; kpi_scorecard_monthly unions all.
--
-- dimension_type = 'district': the district total (dimension_code = district_code).
--   Every district gets a row for every (month, KPI) that has data anywhere (a district
--   without data: denominator null/0, kpi_value null).
-- Other dimension types break the district down: department (department_id),
--   community (12-digit community code), network_type, peak_period (am | pm).
-- gap = kpi_value - target_value; is_target_met null when the KPI has no target
-- (report-only) or no value.
{%- set measure_models = [
    'int_kpi__mobile_handling',
    'int_kpi__risk_warnings',
    'int_kpi__hotline_conduct',
    'int_kpi__hotline_departments',
    'int_kpi__grid_event_handling',
    'int_kpi__ev_charging_safety',
    'int_kpi__community_requests',
    'city_operations_measures',
] %}

with report as (

    select {{ report_at() }} as report_at

),

measures as (

    {%- for m in measure_models %}
        select
            kpi_month, kpi_code, district_code, dimension_type, dimension_code, dimension_name,
            numerator, denominator, kpi_value
        from {{ ref(m) }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

districts as (

    select * from {{ ref('districts') }}

),

targets as (

    select * from {{ ref('kpi_targets') }}

),

district_grid as (

    select distinct
        measures.kpi_month,
        measures.kpi_code,
        districts.district_code,
        'district' as dimension_type,
        districts.district_code as dimension_code
    from measures
    cross join districts
    where measures.dimension_type = 'district'

),

keys as (

    select kpi_month, kpi_code, district_code, dimension_type, dimension_code
    from district_grid
    union
    select kpi_month, kpi_code, district_code, dimension_type, dimension_code
    from measures
    where dimension_type <> 'district'

),

final as (

    select
        keys.kpi_month,
        keys.district_code,
        districts.district_name,
        keys.dimension_type,
        keys.dimension_code,
        case
            when keys.dimension_type = 'district' then districts.district_name
            else measures.dimension_name
        end as dimension_name,
        keys.kpi_code,
        targets.kpi_name,
        targets.unit,
        measures.kpi_value,
        measures.numerator,
        measures.denominator,
        targets.target_value,
        targets.comparator,
        targets.baseline_value,
        measures.kpi_value - targets.target_value as gap,
        case targets.comparator
            when '>=' then measures.kpi_value >= targets.target_value
            when '<=' then measures.kpi_value <= targets.target_value
        end as is_target_met,
        report.report_at
    from keys
    cross join report
    left join districts on keys.district_code = districts.district_code
    left join measures
        on keys.kpi_month = measures.kpi_month
            and keys.kpi_code = measures.kpi_code
            and keys.district_code = measures.district_code
            and keys.dimension_type = measures.dimension_type
            and keys.dimension_code = measures.dimension_code
    left join targets on keys.kpi_code = targets.kpi_code

)

select * from final
