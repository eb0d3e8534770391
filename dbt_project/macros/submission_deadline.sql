{#- The submission deadline of a business date (spec §1, Asia/Shanghai wall time): the
    dataset's deadline_time on business_date + deadline_day_offset, moved to the next working
    day of the official calendar when deadline_days = 'working' (daily datasets; machine feeds
    count calendar days). `working_days` is int_calendar__working_days joined on
    calendar_date = business_date + deadline_day_offset. -#}
{% macro submission_deadline(business_date, deadlines, working_days) -%}
    (case when {{ deadlines }}.deadline_days = 'working' then {{ working_days }}.next_working_day
        else {{ business_date }} + {{ deadlines }}.deadline_day_offset end) + {{ deadlines }}.deadline_time
{%- endmacro %}

{#- True when that deadline falls in a year the calendar does not hold (found on Monday–Friday). -#}
{% macro submission_deadline_is_provisional(deadlines, working_days) -%}
    coalesce({{ deadlines }}.deadline_days = 'working' and {{ working_days }}.is_next_working_day_provisional, false)
{%- endmacro %}
