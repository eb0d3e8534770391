-- Latest version of each service request (latest business date, then latest upload, then last row).
{{ latest_version(ref('stg_community__service_requests'), ['request_id']) }}
