-- Latest version of each ticket: the latest business date wins, then the latest upload,
-- then the latest ingestion, then the last row of the file (macro latest_version).
{{ latest_version(ref('stg_hotline__tickets'), ['ticket_id']) }}
