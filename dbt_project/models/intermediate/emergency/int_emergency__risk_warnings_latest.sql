-- Latest version of each risk warning (latest business date, then latest upload, then last row).
{{ latest_version(ref('stg_emergency__risk_warnings'), ['warning_id']) }}
