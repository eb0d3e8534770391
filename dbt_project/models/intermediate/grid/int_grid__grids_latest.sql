-- Latest version of each grid (latest business date, then latest upload, then last row).
{{ latest_version(ref('stg_grid__grids'), ['grid_code']) }}
