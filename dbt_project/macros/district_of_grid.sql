{#-
    The district of a grid code (spec §2): its first six digits when they are one of the
    six county-level codes (seed districts), else null (the row is kept but belongs to no
    district, so it is in no district total nor breakdown).

        {{ district_of_grid('grid_code') }} as district_code
-#}
{% macro district_of_grid(grid_code_column) -%}
case
    when left({{ grid_code_column }}, 6) in (select district_code from {{ ref('districts') }})
        then left({{ grid_code_column }}, 6)
end
{%- endmacro %}
