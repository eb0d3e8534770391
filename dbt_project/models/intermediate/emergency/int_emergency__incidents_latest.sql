-- Latest version of each incident (latest business date, then latest upload, then last row).
{{ latest_version(ref('stg_emergency__incidents'), ['incident_id']) }}
