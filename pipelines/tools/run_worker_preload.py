"""What the run workers' fork server imports once (see ``pipelines.tools.code_server``).

Imports only: the code location (with its repository resolved, as each run would do first)
and the libraries a run imports later (Great Expectations for validation). Nothing here may
open a connection, start a thread or read configuration that a run should read fresh."""

import great_expectations  # noqa: F401  (4–5 s of imports in every ingestion run otherwise)

import pipelines.definitions
import pipelines.ingest.orchestrate  # noqa: F401
import pipelines.validation  # noqa: F401

pipelines.definitions.defs.get_repository_def()
