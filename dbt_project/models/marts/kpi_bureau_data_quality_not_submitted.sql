-- Datasets with a deadline that no bureau file has been submitted for yet (as of the
-- report time): the data-quality calendar of a dataset starts at its first submitted
-- business date (spec §5), so these have no dq_on_time_rate rows in
-- kpi_bureau_data_quality_monthly; this table lets the portal and the cockpit show them.

with report as (

    select {{ report_at() }} as report_at

),

submitted as (

    select distinct files.bureau, files.dataset
    from {{ ref('stg_meta__files') }} as files
    cross join report
    where cast(timezone('Asia/Shanghai', files.uploaded_at) as timestamp) <= report.report_at

),

deadlines as (

    select
        cast(bureau as varchar) as bureau,
        cast(dataset as varchar) as dataset,
        cast(contract_version as varchar) as contract_version,
        cast(cadence as varchar) as cadence,
        cast(has_deadline as boolean) as has_deadline,
        cast(deadline_day_offset as integer) as deadline_day_offset,
        cast(deadline_time as varchar) as deadline_time
    from {{ ref('dataset_deadlines') }}

)

select
    deadlines.bureau,
    deadlines.dataset,
    deadlines.bureau || '.' || deadlines.dataset as dataset_key,
    deadlines.contract_version,
    deadlines.cadence,
    deadlines.deadline_day_offset,
    deadlines.deadline_time,
    'not_submitted' as submission_status,
    report.report_at
from deadlines
cross join report
left join submitted
    on deadlines.bureau = submitted.bureau
        and deadlines.dataset = submitted.dataset
where deadlines.has_deadline
    and submitted.bureau is null
