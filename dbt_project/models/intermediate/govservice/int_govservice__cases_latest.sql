-- Latest version of each case (latest business date, then latest upload, then last row).
{{ latest_version(ref('stg_govservice__cases'), ['case_id']) }}
