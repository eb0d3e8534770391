-- Latest version of each grid event (latest business date, then latest upload, then last row).
{{ latest_version(ref('stg_grid__events'), ['event_id']) }}
