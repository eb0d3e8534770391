-- Community request satisfaction (spec §5), by district and by community (community code
-- = the first 12 digits of the grid code), month of completed_at (submitted_at when not
-- completed), rated requests only, by the report time.
-- community_request_good_rating_share: share of rated requests rated >= 4.
-- community_request_mean_rating: mean rating (numerator = sum of ratings).

with report as (

    select {{ report_at() }} as report_at

),

rated as (

    select
        cast(date_trunc('month', coalesce(requests.completed_at, requests.submitted_at)) as date)
            as kpi_month,
        requests.district_code,
        left(requests.grid_code, 12) as community_code,
        requests.community_name,
        requests.rating
    from {{ ref('int_community__service_requests_enriched') }} as requests
    cross join report
    where requests.rating is not null
        and requests.district_code is not null  -- grid code outside the six districts
        and coalesce(requests.completed_at, requests.submitted_at) <= report.report_at

),

measures as (

    select
        kpi_month,
        district_code,
        case when grouping(community_code) = 0 then 'community' else 'district' end
            as dimension_type,
        case when grouping(community_code) = 0 then community_code else district_code end
            as dimension_code,
        case when grouping(community_code) = 0 then any_value(community_name) end
            as dimension_name,
        count_if(rating >= 4) as good_count,
        sum(rating) as rating_sum,
        count(*) as rated_count
    from rated
    group by kpi_month, district_code, rollup(community_code)

)

select
    kpi_month,
    'community_request_good_rating_share' as kpi_code,
    district_code, dimension_type, dimension_code, dimension_name,
    cast(good_count as double) as numerator,
    cast(rated_count as double) as denominator,
    good_count / rated_count as kpi_value
from measures

union all

select
    kpi_month,
    'community_request_mean_rating' as kpi_code,
    district_code, dimension_type, dimension_code, dimension_name,
    cast(rating_sum as double) as numerator,
    cast(rated_count as double) as denominator,
    rating_sum / rated_count as kpi_value
from measures
