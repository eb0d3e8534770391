"""Publish governed tables and marts for analysts, split by sharing class (spec §3).

Only governed tables and marts (``dim_*``, ``fct_*``, ``kpi_*`` under ``models/marts``)
are published, with table and column comments from the dbt docs (falling back to the
data contracts' business names). Each is classed from dbt meta, else from its lineage:

* ``unconditional`` (无条件共享) tables and columns go to the main read-only file
  :func:`settings.published_db_path` and to ``<published>/unconditional/<table>`` (Delta):
  every analyst reads them.
* ``conditional`` (有条件共享) tables go to one file per dataset,
  ``<published dir>/conditional/<bureau>.<dataset>.duckdb``, and to
  ``<published>/conditional/<bureau>.<dataset>/<table>``: only identities granted the
  dataset (``data_contracts/grants.yaml``) read them. A mart built from several
  conditional datasets needs every grant: it goes to the combination
  ``conditional/<a>+<b>`` (sorted), readable only by identities granted all of them.
* A conditional column of an unconditional mart (``dim_enterprises.legal_rep_name_masked``)
  is left out of the main file; the full table goes to the column's dataset file.
* ``none`` (不予共享) tables and columns are never published.

How a mart is classed (first that applies):

1. model meta ``sharing`` (with optional ``dataset``/``datasets``; without them a
   conditional mart takes the conditional datasets upstream);
2. meta ``aggregate: true`` or a ``kpi_*`` name: KPI marts are monthly aggregates by
   district/department/bureau without personal data, so ``unconditional``;
3. lineage (``depends_on`` down to the dbt sources, whose meta or contract give the
   dataset's class): conditional for the conditional datasets upstream (all of them),
   not published if a ``none`` dataset is upstream, else unconditional.

Every file is built beside its published path and swapped in with an atomic rename, so
analysts (read-only) never hold a lock on the pipeline's working database and never see
a half-written file.

Modules: :mod:`.sharing` (classification and file layout), :mod:`.build` (one DuckDB file),
:mod:`.delta` (Delta copies on S3), :mod:`.swap` (the publish: build, atomic swap, clean-up).
"""

from pipelines.publish.build import GROUP_COLUMN, MAX_GROUP_SHARE, STATE_TABLE, BuiltFile, group_predicate
from pipelines.publish.delta import FINGERPRINT_KEY
from pipelines.publish.sharing import (
    AGGREGATE_PREFIXES,
    CONDITIONAL,
    CONDITIONAL_DIR,
    GOVERNED_PREFIXES,
    NONE,
    UNCONDITIONAL,
    Placement,
    conditional_db_path,
    conditional_key,
    delta_prefix,
    mart_models,
    placements,
    published_files,
    upstream_datasets,
)
from pipelines.publish.swap import Published, file_sha256, publish

__all__ = [
    "AGGREGATE_PREFIXES",
    "CONDITIONAL",
    "CONDITIONAL_DIR",
    "FINGERPRINT_KEY",
    "GOVERNED_PREFIXES",
    "GROUP_COLUMN",
    "MAX_GROUP_SHARE",
    "NONE",
    "STATE_TABLE",
    "UNCONDITIONAL",
    "BuiltFile",
    "Placement",
    "Published",
    "conditional_db_path",
    "conditional_key",
    "delta_prefix",
    "file_sha256",
    "group_predicate",
    "mart_models",
    "placements",
    "publish",
    "published_files",
    "upstream_datasets",
]
