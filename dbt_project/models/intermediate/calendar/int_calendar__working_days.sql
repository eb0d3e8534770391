-- One row per calendar day with the official working-day calendar applied (seed
-- cn_workday_calendar, spec §1): a working day is a make-up working day (调休), or a
-- Monday–Friday that is not a holiday. For a year the seed does not hold, Monday–Friday
-- (is_year_held = false: deadlines falling there are provisional).
-- next_working_day: the first working day on or after calendar_date;
-- is_next_working_day_provisional: its year is not held (found on Monday–Friday).
-- Days from var('calendar_first_day') to var('calendar_last_day').
with calendar as (

    -- the seed's columns are named date and year
    select
        cast("date" as date) as holiday_date,  -- noqa: RF06
        cast(kind as varchar) as kind,
        cast(year as integer) as year  -- noqa: RF04
    from {{ ref('cn_workday_calendar') }}

),

held_years as (

    select distinct year from calendar

),

days as (

    select cast(d as date) as calendar_date
    from generate_series(
        cast('{{ var("calendar_first_day") }}' as timestamp),
        cast('{{ var("calendar_last_day") }}' as timestamp),
        interval 1 day
    ) as g (d)

),

flagged as (

    select
        days.calendar_date,
        held_years.year is not null as is_year_held,
        coalesce(
            calendar.kind = 'makeup_workday',
            isodow(days.calendar_date) <= 5
        ) as is_working_day
    from days
    left join calendar on days.calendar_date = calendar.holiday_date
    left join held_years on year(days.calendar_date) = held_years.year

),

next_days as (

    select
        calendar_date,
        is_year_held,
        is_working_day,
        first_value(case when is_working_day then calendar_date end ignore nulls) over (
            order by calendar_date rows between current row and unbounded following
        ) as next_working_day
    from flagged

)

select
    next_days.*,
    held_years.year is null as is_next_working_day_provisional
from next_days
left join held_years on year(next_days.next_working_day) = held_years.year
