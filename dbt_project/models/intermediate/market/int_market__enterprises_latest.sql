-- Latest registration state of each enterprise (latest business date, then latest upload, then last row).
{{ latest_version(ref('stg_market__enterprises'), ['uscc']) }}
