{#-
    Data tests that read only what can have changed since they last passed.

    hub_tested_marks (working database) holds one row per tested object: tested_through, the
    instant up to which its rows are tested, and for a staging view tested_with, the set of
    its tests then (an md5 of their ids). record_tested_marks (on-run-end) moves a mark only
    where the tests passed; a failed or skipped test leaves it, so the next transform looks
    at the same rows again.

    - Staging views of the raw zone (row-level tests only: not_null, accepted_values): dbt
      renders each generic test's model through get_where_subquery, which here reads
      `(select * from <view> where ingested_at > <mark>)`. The constant filter reaches the
      Delta scan, so only the new files are read.
    - unique_combination with `new_rows_of` (fct_traffic_flow_5min): see that test.
    Every row is tested again after a --full-refresh (the transform runs one after any change
    to the dbt project or the contracts), when a view's tests changed, and after a fact was
    rebuilt from scratch (reset_tested_mark).
-#}

{% macro tested_marks_relation() -%}
{{ return(api.Relation.create(database=target.database, schema=target.schema, identifier='hub_tested_marks')) }}
{%- endmacro %}

{#- on-run-start -#}
{% macro create_tested_marks() -%}
create table if not exists {{ tested_marks_relation() }} (
    model_name varchar primary key,
    tested_through timestamptz not null,
    tested_with varchar,
    recorded_at timestamptz not null
)
{%- endmacro %}

{#- The tested mark of `model_name` as text, or none (none yet; tested with another set). -#}
{% macro tested_mark(model_name, tested_with=none) -%}
{%- if not execute or flags.FULL_REFRESH -%}
{{ return(none) }}
{%- endif -%}
{%- set rel = tested_marks_relation() -%}
{%- if adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is none -%}
{{ return(none) }}
{%- endif -%}
{%- set result = run_query(
    "select 'w' || cast(tested_through as varchar) from " ~ rel ~ " where model_name = '" ~ model_name ~ "'"
    ~ (" and tested_with = '" ~ tested_with ~ "'" if tested_with else "")
) -%}
{{ return(result.columns[0].values()[0][1:] if result.rows | length else none) }}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
{%- set where = config.get('where', '') -%}
{%- set since = staging_tested_mark(relation) -%}
{%- if since -%}
{%- set where = ("(" ~ where ~ ") and " if where else "") ~ "ingested_at > '" ~ since ~ "'::timestamptz" -%}
{%- endif -%}
{%- if where -%}
{%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") -%}
{%- else -%}
{%- do return(relation) -%}
{%- endif -%}
{%- endmacro %}

{#- The sorted test ids of a staging model whose tests are scoped (a view over a raw table: an
    ingested_at column; every test on it row-level), else none. -#}
{% macro scoped_staging_tests(model_id) -%}
{%- set node = graph.nodes.get(model_id) -%}
{%- if not node or node.resource_type != 'model' or node.fqn[1] != 'staging' or 'ingested_at' not in node.columns -%}
{{ return(none) }}
{%- endif -%}
{%- set tests = [] -%}
{%- for t in graph.nodes.values() if t.resource_type == 'test' and t.attached_node == model_id -%}
{%- if not t.test_metadata or t.test_metadata.name not in ('not_null', 'accepted_values') -%}
{{ return(none) }}
{%- endif -%}
{%- do tests.append(t.unique_id) -%}
{%- endfor -%}
{{ return(tests | sort if tests else none) }}
{%- endmacro %}

{% macro staging_tested_mark(relation) -%}
{%- if not execute or not relation.identifier or not relation.identifier.startswith('stg_') -%}
{{ return(none) }}
{%- endif -%}
{%- set tests = scoped_staging_tests('model.' ~ project_name ~ '.' ~ relation.identifier) -%}
{{ return(tested_mark(relation.identifier, local_md5(tests | join(','))) if tests else none) }}
{%- endmacro %}

{#- Pre-hook of a fact with a scoped unique_combination test: a build from scratch (first build,
    --full-refresh) holds no tested row. A pre-hook, because there is_incremental() still tells
    whether the table is being rebuilt. -#}
{% macro reset_tested_mark() -%}
{%- if is_incremental() -%}
select 1
{%- else -%}
delete from {{ tested_marks_relation() }} where model_name = '{{ this.identifier }}'
{%- endif -%}
{%- endmacro %}

{#-
    on-run-end: the marks up to which rows are now tested.
    - A fact whose unique_combination test with `new_rows_of` passed: its build mark.
    - A staging view whose scoped tests all passed: the transform's instant
      (SHUZHONG_VISIBLE_THROUGH; no mark without one). The transform sensor takes it when no
      ingestion run is active, so every row stamped before it was committed before this build
      read the view; rows stamped after it are in the next scope.
-#}
{% macro record_tested_marks(results) -%}
{%- set status = {} -%}
{%- set facts = [] -%}
{%- for r in results -%}
{%- do status.update({r.node.unique_id: r.status}) -%}
{%- set meta = r.node.test_metadata if r.node.resource_type == 'test' else none -%}
{%- if r.status == 'pass' and meta and meta.name == 'unique_combination' and meta.kwargs.get('new_rows_of') and r.node.attached_node -%}
{%- do facts.append(r.node.attached_node.split('.')[-1]) -%}
{%- endif -%}
{%- endfor -%}
{%- set through = env_var('SHUZHONG_VISIBLE_THROUGH', '') -%}
{%- set views = [] -%}
{%- if through -%}
{%- set through = modules.datetime.datetime.fromisoformat(through).isoformat() -%}
{%- for model_id in graph.nodes if model_id.startswith('model.') -%}
{%- set tests = scoped_staging_tests(model_id) -%}
{%- if tests -%}
{%- set passed = [] -%}
{%- for t in tests if status.get(t) == 'pass' -%}{%- do passed.append(t) -%}{%- endfor -%}
{%- if passed | length == tests | length -%}
{%- do views.append((model_id.split('.')[-1], local_md5(tests | join(',')))) -%}
{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{%- if facts %}
insert into {{ tested_marks_relation() }} (model_name, tested_through, tested_with, recorded_at)
select model_name, visible_through, null, current_timestamp
from {{ build_marks_relation() }}
where model_name in ({% for m in facts %}'{{ m }}'{% if not loop.last %}, {% endif %}{% endfor %})
on conflict (model_name) do update set tested_through = excluded.tested_through, recorded_at = excluded.recorded_at;
{%- endif %}
{%- for name, tested_with in views %}
insert into {{ tested_marks_relation() }} (model_name, tested_through, tested_with, recorded_at)
values ('{{ name }}', '{{ through }}'::timestamptz, '{{ tested_with }}', current_timestamp)
on conflict (model_name) do update set tested_through = excluded.tested_through,
    tested_with = excluded.tested_with, recorded_at = excluded.recorded_at;
{%- endfor %}
select 1
{%- endmacro %}
