"""The people's pages: 数据报送门户 (bureau portal), 领导驾驶舱 (KPI cockpit), 数据资源目录 (catalogue).

Server-rendered pages (FastAPI + Jinja2, served by uvicorn as one process), Dagster-free:

* :mod:`.portal` — a clerk signs in with the bureau's own S3 keys; every S3 call the page makes
  for the clerk uses those keys (:mod:`.bureau_s3`), so the S3 server enforces isolation;
* :mod:`.cockpit` — the KPI scorecard from the published warehouse, read-only (:mod:`.warehouse`);
* :mod:`.catalogue` — every published table, generated from the contracts and the dbt manifest;
* :mod:`.security` — sessions (server-side, random id), CSRF tokens, cookies, access log;
* :mod:`.app` — the application: routes, error pages in Chinese, static files (vendored Chart.js).
"""
