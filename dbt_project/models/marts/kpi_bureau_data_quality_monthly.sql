-- Bureau data quality (数据质量考核, spec §5) by month × bureau × dataset, from the file
-- registry (stg_meta__files) and the dataset deadlines generated from the contracts
-- (seed dataset_deadlines). Month = month of the business date.
--
-- dq_on_time_rate (datasets with a deadline): business dates D of the month whose
--   deadline (deadline_time on D + deadline_day_offset days, Asia/Shanghai, moved to the next
--   working day of the official calendar for deadline_days = 'working', macro
--   submission_deadline) has passed at the report time, or whose file already arrived on
--   time (spec v1.3); on time when the first accepted or no-op identical (duplicate) file
--   for D was uploaded (uploaded_at, UTC, converted to Asia/Shanghai) by the deadline: a
--   bureau with no events may send the same header-only file every day (spec §1). A date
--   with no such file uploaded by the report time counts as late (missing). Each dataset's
--   calendar starts at its own first submitted business date (any processed file;
--   var('dq_start_date'), when set, is a later lower bound); a dataset never submitted has
--   no dates (it is listed in kpi_bureau_data_quality_not_submitted instead of showing 0 %
--   on time). is_deadline_provisional: a due date's deadline falls in a year the calendar
--   (seed cn_workday_calendar) does not hold.
-- dq_rows_accepted_rate: rows accepted / rows received over the files processed for the
--   month's business dates (every processed file version, accepted or rejected).
-- dq_files_rejected: number of rejected files (numerator), of all processed files
--   (denominator, duplicates excluded).
-- Files uploaded after the report time are ignored (the mart is as of the report time).
{%- set start_date = var('dq_start_date', none) %}

with report as (

    select {{ report_at() }} as report_at

),

files as (

    select
        files.*,
        -- S3 upload time (UTC timestamptz) as Asia/Shanghai wall time, like the deadlines
        cast(timezone('Asia/Shanghai', files.uploaded_at) as timestamp) as uploaded_at_local
    from {{ ref('stg_meta__files') }} as files
    cross join report
    where cast(timezone('Asia/Shanghai', files.uploaded_at) as timestamp) <= report.report_at

),

deadlines as (

    select
        cast(bureau as varchar) as bureau,
        cast(dataset as varchar) as dataset,
        cast(has_deadline as boolean) as has_deadline,
        cast(deadline_day_offset as integer) as deadline_day_offset,
        cast(cast(deadline_time as varchar) as time) as deadline_time,
        cast(deadline_days as varchar) as deadline_days
    from {{ ref('dataset_deadlines') }}

),

bounds as (

    select
        files.bureau,
        files.dataset,
        {%- if start_date %}
        greatest(min(files.business_date), cast('{{ start_date }}' as date)) as start_date,
    {%- else %}
            min(files.business_date) as start_date,
        {%- endif %}
        cast(any_value(report.report_at) as date) as end_date
    from files
    cross join report
    where files.business_date is not null
    group by files.bureau, files.dataset

),

calendar as (

    select bounds.bureau, bounds.dataset, cast(g.d as date) as business_date
    from bounds,
        generate_series(
            cast(bounds.start_date as timestamp), cast(bounds.end_date as timestamp), interval 1 day
        ) as g (d)
    where bounds.start_date <= bounds.end_date

),

-- the first accepted or no-op identical file of each business date
first_accepted as (

    select bureau, dataset, business_date, min(uploaded_at_local) as first_accepted_at
    from files
    where status in ('accepted', 'duplicate')
    group by all

),

due_dates as (

    select
        deadlines.bureau,
        deadlines.dataset,
        calendar.business_date,
        {{ submission_deadline('calendar.business_date', 'deadlines', 'working_days') }} as deadline_at,
        {{ submission_deadline_is_provisional('deadlines', 'working_days') }} as is_deadline_provisional
    from deadlines
    inner join calendar
        on deadlines.bureau = calendar.bureau
            and deadlines.dataset = calendar.dataset
    cross join report
    left join {{ ref('int_calendar__working_days') }} as working_days
        on working_days.calendar_date = calendar.business_date + deadlines.deadline_day_offset
    left join first_accepted
        on calendar.bureau = first_accepted.bureau
            and calendar.dataset = first_accepted.dataset
            and calendar.business_date = first_accepted.business_date
    where deadlines.has_deadline
        and (
            {{ submission_deadline('calendar.business_date', 'deadlines', 'working_days') }}
            <= report.report_at
            -- already arrived on time: counts before its deadline (spec v1.3)
            or first_accepted.first_accepted_at
            <= {{ submission_deadline('calendar.business_date', 'deadlines', 'working_days') }}
        )

),

timeliness as (

    select
        cast(date_trunc('month', due_dates.business_date) as date) as kpi_month,
        due_dates.bureau,
        due_dates.dataset,
        count(*) as dates_due,
        count(*) filter (where first_accepted.first_accepted_at <= due_dates.deadline_at)
            as dates_on_time,
        count(*) filter (where first_accepted.first_accepted_at > due_dates.deadline_at)
            as dates_late,
        count(*) filter (where first_accepted.first_accepted_at is null) as dates_missing,
        bool_or(due_dates.is_deadline_provisional) as is_deadline_provisional
    from due_dates
    left join first_accepted
        on due_dates.bureau = first_accepted.bureau
            and due_dates.dataset = first_accepted.dataset
            and due_dates.business_date = first_accepted.business_date
    group by all

),

volumes as (

    select
        cast(date_trunc('month', business_date) as date) as kpi_month,
        bureau,
        dataset,
        count(*) filter (where status in ('accepted', 'rejected')) as files_processed,
        count(*) filter (where status = 'accepted') as files_accepted,
        count(*) filter (where status = 'rejected') as files_rejected,
        coalesce(sum(rows_received) filter (where status in ('accepted', 'rejected')), 0)
            as rows_received,
        coalesce(sum(rows_accepted) filter (where status in ('accepted', 'rejected')), 0)
            as rows_accepted,
        coalesce(sum(rows_quarantined) filter (where status in ('accepted', 'rejected')), 0)
            as rows_quarantined,
        coalesce(sum(rows_superseded) filter (where status in ('accepted', 'rejected')), 0)
            as rows_superseded
    from files
    where business_date is not null
    group by all

),

combined as (

    select
        coalesce(timeliness.kpi_month, volumes.kpi_month) as kpi_month,
        coalesce(timeliness.bureau, volumes.bureau) as bureau,
        coalesce(timeliness.dataset, volumes.dataset) as dataset,
        timeliness.dates_due,
        timeliness.dates_on_time,
        timeliness.dates_late,
        timeliness.dates_missing,
        timeliness.is_deadline_provisional,
        coalesce(volumes.files_processed, 0) as files_processed,
        coalesce(volumes.files_accepted, 0) as files_accepted,
        coalesce(volumes.files_rejected, 0) as files_rejected,
        cast(coalesce(volumes.rows_received, 0) as bigint) as rows_received,
        cast(coalesce(volumes.rows_accepted, 0) as bigint) as rows_accepted,
        cast(coalesce(volumes.rows_quarantined, 0) as bigint) as rows_quarantined,
        cast(coalesce(volumes.rows_superseded, 0) as bigint) as rows_superseded
    from timeliness
    full outer join volumes
        on timeliness.kpi_month = volumes.kpi_month
            and timeliness.bureau = volumes.bureau
            and timeliness.dataset = volumes.dataset

),

measures as (

    select
        *, 'dq_on_time_rate' as kpi_code,
        cast(dates_on_time as double) as numerator,
        cast(dates_due as double) as denominator,
        dates_on_time / nullif(dates_due, 0) as kpi_value
    from combined
    where dates_due is not null

    union all

    select
        *, 'dq_rows_accepted_rate',
        cast(rows_accepted as double),
        cast(rows_received as double),
        rows_accepted / nullif(rows_received, 0)
    from combined
    where files_processed > 0

    union all

    select
        *, 'dq_files_rejected',
        cast(files_rejected as double),
        cast(files_processed as double),
        cast(files_rejected as double)
    from combined
    where files_processed > 0

),

targets as (

    select * from {{ ref('kpi_targets') }}

)

select
    measures.kpi_month,
    measures.bureau,
    measures.dataset,
    measures.kpi_code,
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
    cast(measures.dates_due as bigint) as dates_due,
    cast(measures.dates_on_time as bigint) as dates_on_time,
    cast(measures.dates_late as bigint) as dates_late,
    cast(measures.dates_missing as bigint) as dates_missing,
    measures.is_deadline_provisional,
    cast(measures.files_processed as bigint) as files_processed,
    cast(measures.files_accepted as bigint) as files_accepted,
    cast(measures.files_rejected as bigint) as files_rejected,
    measures.rows_received,
    measures.rows_accepted,
    measures.rows_quarantined,
    measures.rows_superseded,
    report.report_at
from measures
cross join report
left join targets on measures.kpi_code = targets.kpi_code
