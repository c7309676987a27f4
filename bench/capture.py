"""Capture each benchmarked endpoint's SQL, EXPLAIN it, and write pgbench scripts from it.

Run by bench/run.py in its own process (Django set up on the bench database, not in production
mode; the JWT key is the bench server's so the same tokens work):

    python bench/capture.py <spec.json> <out dir>

For each endpoint, one sample request goes through Django's test client with an execute wrapper that
records every statement with its parameters (cached endpoints are captured on a miss: a fresh cache
key prefix). Money POSTs run inside a transaction that is rolled back, so the book is unchanged.

Then:
- plans: each statement is run once, then `EXPLAIN (ANALYZE, BUFFERS)` (JSON for the checks, text for
  people); a write's statements are replayed in order in one transaction, rolled back. Checks: no
  sequential scan of a table over SEQ_SCAN_ROWS rows, no sort or hash spilling to disk, partitioned
  tables pruned (a date-ranged statement reads a few monthly partitions, not all).
- pgbench scripts: the captured statements, with the parameters that were the sample's random
  choice (a user, a credit, a cursor, a month) replaced by pgbench variables set from a random row of
  the endpoint's pool table (`bench.pick_<endpoint>`, the same pool wrk draws from); the other
  parameters stay the literals the app sent. A statement fed by the previous one's rows (the
  amounts of a page of transactions) gets them through `\\gset`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SEQ_SCAN_ROWS = 10_000
FILTER_WASTE_ROWS = 1_000
DML = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.I)


class _Rollback(Exception):
    pass


# --- capture -------------------------------------------------------------------------------------


def capture(client: Any, sample: dict[str, Any], write: bool) -> tuple[int, bytes, list[dict[str, Any]]]:
    from django.db import connection, transaction

    statements: list[dict[str, Any]] = []

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.extend(split_statements(sql, params, many))
        return execute(sql, params, many, context)

    headers: dict[str, str] = {}
    if sample.get("token"):
        headers["HTTP_AUTHORIZATION"] = f"Bearer {sample['token']}"
    if write:
        headers["HTTP_IDEMPOTENCY_KEY"] = f"capture-{uuid.uuid4().hex}"
    result: dict[str, Any] = {}
    try:
        with transaction.atomic(), connection.execute_wrapper(wrapper):
            if sample["method"] == "GET":
                response = client.get(sample["path"], **headers)
            else:
                response = client.post(sample["path"], sample["body"], content_type="application/json", **headers)
            result["status"], result["content"] = response.status_code, response.content
            if write:
                raise _Rollback
    except _Rollback:
        pass
    return result["status"], result["content"], statements


def split_statements(sql: str, params: Any, many: bool) -> list[dict[str, Any]]:
    """One entry per statement: the app sends some together in one round trip ("a; b; c"), each
    is EXPLAINed on its own. Our SQL has no semicolon inside a literal; params follow the %s."""
    parts = [part.strip() for part in sql.split(";") if part.strip()]
    if many or len(parts) < 2:
        return [{"sql": sql, "params": params, "many": many}]
    values = list(params or [])
    out, start = [], 0
    for part in parts:
        count = len(split_placeholders(part)) - 1
        out.append({"sql": part, "params": values[start : start + count], "many": False})
        start += count
    return out


# --- literals and pgbench ------------------------------------------------------------------------


def literal(cursor: Any, value: Any) -> str:
    """The value as the app's client-side binding sends it (psycopg's own quoting)."""
    raw = cursor.mogrify("%s", [value])
    return raw.decode() if isinstance(raw, bytes) else raw


def variable_literal(cursor: Any, value: Any, name: str) -> str:
    """`:name` in place of the value, keeping the app's quoting and cast (`'...'::date`)."""
    if isinstance(value, list | tuple):
        return f"':{name}'::uuid[]"
    text = literal(cursor, value)
    if text.startswith("'"):
        end = text.rfind("'")
        return f"':{name}'" + text[end + 1 :]
    return f":{name}"


def split_placeholders(sql: str) -> list[str]:
    """The SQL's pieces around its `%s` placeholders (`%%` is a literal percent sign)."""
    pieces = re.split(r"(?<!%)%s", sql)
    return [p.replace("%%", "%") for p in pieces]


def render(cursor: Any, sql: str, params: list[Any], names: dict[int, str]) -> str:
    pieces = split_placeholders(sql)
    if len(pieces) != len(params) + 1:
        raise ValueError(f"{len(params)} parameters for {len(pieces) - 1} placeholders")
    out = [pieces[0]]
    for i, value in enumerate(params):
        out.append(variable_literal(cursor, value, names[i]) if i in names else literal(cursor, value))
        out.append(pieces[i + 1])
    return "".join(out)


def _same(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return a is b
    if isinstance(a, int | Decimal) and isinstance(b, int | Decimal):
        return a == b
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b
    if isinstance(a, date) and isinstance(b, date) and not isinstance(a, datetime) and not isinstance(b, datetime):
        return a == b
    if isinstance(a, uuid.UUID | str) and isinstance(b, uuid.UUID | str):
        return str(a) == str(b)
    return False


def one_line(sql: str) -> str:
    return " ".join(sql.split())


def pgbench_script(
    cursor: Any, endpoint: str, spec: dict[str, Any], pick: dict[str, Any], statements: list[dict[str, Any]]
) -> str:
    """One request's statements as a pgbench transaction, the random choices drawn from the pool."""
    lines = [f"-- {endpoint}: the statements one request runs, captured from the app (bench/capture.py)"]
    if pick:
        columns = ", ".join(pick)
        lines.append(f"\\set n random(1, {spec['pool_size']})")
        lines.append(f"SELECT {columns} FROM bench.pick_{endpoint} WHERE n = :n \\gset")
    body = [s for s in statements if DML.match(s["sql"]) and not s["many"]]
    for st in body:
        names: dict[int, str] = {}
        for i, value in enumerate(st["params"] or []):
            for column, sample_value in pick.items():
                if _same(value, sample_value):
                    names[i] = column
                    break
        lines.append(one_line(render(cursor, st["sql"], list(st["params"] or []), names)) + ";")
    return "\n".join(lines) + "\n"


# A version-checked update (`… WHERE id = %s AND version = %s`, refused by conflict_unless when no
# row matched): replayed against the row's version when the script runs, not the one captured. The
# HTTP runs before pgbench pay the very credits captured, and the guard refused the stale version:
# every payment replay aborted ("the credit was changed by someone else").
_VERSION_CHECK = re.compile(r"\bUPDATE\s+(\w+)\b.*?\bWHERE\s+id\s*=\s*%s\s+AND\s+version\s*=\s*%s", re.I | re.S)


def current_version(cursor: Any, sql: str, params: list[Any]) -> tuple[list[str], dict[int, str]]:
    """For a version-checked update: the line that reads the row's version into `:replay_version`,
    and the version parameter bound to it. Nothing for any other statement."""
    found = _VERSION_CHECK.search(sql)
    if found is None:
        return [], {}
    version_index = len(split_placeholders(sql[: found.end()])) - 2  # the last placeholder matched
    row_id = literal(cursor, params[version_index - 1])
    read = f"SELECT version AS replay_version FROM {found.group(1)} WHERE id = {row_id} \\gset"
    return [read], {version_index: "replay_version"}


def write_script(cursor: Any, endpoint: str, statements: list[dict[str, Any]]) -> str:
    """A money POST's statements with their literals, in one transaction rolled back at the end (the
    book is unchanged, so the script can run again and again; the commit's WAL flush is not in it)."""
    lines = [f"-- {endpoint}: a captured request's statements, replayed and rolled back", "BEGIN;"]
    for st in statements:
        if not st["many"]:
            params = list(st["params"] or [])
            read, names = current_version(cursor, st["sql"], params)
            lines += read
            lines.append(one_line(render(cursor, st["sql"], params, names)) + ";")
            continue
        for params in st["params"]:
            lines.append(one_line(render(cursor, st["sql"], list(params), {})) + ";")
    lines.append("ROLLBACK;")
    return "\n".join(lines) + "\n"


# --- plans ---------------------------------------------------------------------------------------


def relation_info(cursor: Any) -> tuple[dict[str, float], dict[str, str], dict[str, int]]:
    """Rows per relation (estimates), each partition's parent, and each partitioned table's partition count."""
    cursor.execute(
        "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm')"
    )
    rows = {name: float(tuples) for name, tuples in cursor.fetchall()}
    cursor.execute(
        "SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relkind = 'p'"
    )
    parents = dict(cursor.fetchall())
    counts: dict[str, int] = {}
    for parent in parents.values():
        counts[parent] = counts.get(parent, 0) + 1
    return rows, parents, counts


def walk(node: dict[str, Any]):  # type: ignore[no-untyped-def]
    yield node
    for child in node.get("Plans", []) or []:
        yield from walk(child)


def check_plan(plan: dict[str, Any], info: tuple[dict[str, float], dict[str, str], dict[str, int]]) -> dict[str, Any]:
    rows, parents, counts = info
    violations: list[str] = []
    warnings: list[str] = []
    scans: list[str] = []
    partitions: dict[str, set[str]] = {}
    removed: dict[str, int] = {}
    root = plan["Plan"]
    for node in walk(root):
        kind = node.get("Node Type", "")
        relation = node.get("Relation Name")
        if relation:
            parent = parents.get(relation)
            if parent:
                partitions.setdefault(parent, set()).add(relation)
            size = rows.get(relation, 0.0)
            loops = node.get("Actual Loops", 1)
            index = node.get("Index Name")
            scans.append(f"{kind} on {relation}" + (f" using {index}" if index else ""))
            if kind == "Seq Scan" and loops and size > SEQ_SCAN_ROWS:
                violations.append(f"sequential scan of {relation} (~{size:,.0f} rows)")
            filtered = node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
            produced = node.get("Actual Rows", 0) * max(loops, 1)
            if filtered > FILTER_WASTE_ROWS and filtered > 10 * max(produced, 1):
                warnings.append(f"{kind} on {relation} discards {filtered:,} rows by filter for {produced:,} kept")
        if kind == "Sort" and node.get("Sort Space Type") == "Disk":
            violations.append(f"sort spilled to disk ({node.get('Sort Space Used')} kB)")
        if node.get("Temp Written Blocks", 0) > 0:
            violations.append(f"{kind} wrote {node['Temp Written Blocks']} temporary blocks (spill)")
        if "Subplans Removed" in node:
            parent = _parent_of_append(node, parents)
            if parent:
                removed[parent] = removed.get(parent, 0) + node["Subplans Removed"]
    pruning = {}
    for parent, scanned in partitions.items():
        total = counts.get(parent, 0)
        pruning[parent] = {"scanned": len(scanned), "total": total}
        if total > 3 and len(scanned) >= total:
            violations.append(f"no partition pruning on {parent}: {len(scanned)} of {total} partitions")
    return {
        "violations": sorted(set(violations)),
        "warnings": sorted(set(warnings)),
        "scans": scans,
        "partitions": pruning,
        "execution_ms": plan.get("Execution Time"),
        "planning_ms": plan.get("Planning Time"),
        "shared_hit": root.get("Shared Hit Blocks", 0),
        "shared_read": root.get("Shared Read Blocks", 0),
    }


def _parent_of_append(node: dict[str, Any], parents: dict[str, str]) -> str | None:
    for child in walk(node):
        relation = child.get("Relation Name")
        if relation and relation in parents:
            return parents[relation]
    return None


def explain_reads(cursor: Any, statements: list[dict[str, Any]], info: Any) -> list[dict[str, Any]]:
    out = []
    for st in statements:
        if not DML.match(st["sql"]) or st["many"]:
            continue
        params = list(st["params"] or [])
        cursor.execute(st["sql"], params)  # warm, as in a running app
        cursor.fetchall()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + st["sql"], params)
        plan = _json_plan(cursor.fetchone()[0])
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + st["sql"], params)
        text = "\n".join(r[0] for r in cursor.fetchall())
        out.append(
            {"sql": one_line(render(cursor, st["sql"], params, {})), "check": check_plan(plan, info), "plan": text}
        )
    return out


def explain_write(cursor: Any, statements: list[dict[str, Any]], info: Any) -> list[dict[str, Any]]:
    """Replay a write's statements in order in one transaction (rolled back by the caller), each
    DML explained with ANALYZE inside a savepoint, then run for real so the next ones see its effect."""
    out = []
    for st in statements:
        if st["many"]:
            for params in st["params"]:
                cursor.execute(st["sql"], list(params))
            continue
        params = list(st["params"] or [])
        if not DML.match(st["sql"]):
            cursor.execute(st["sql"], params)
            continue
        cursor.execute("SAVEPOINT bench_explain")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + st["sql"], params)
        plan = _json_plan(cursor.fetchone()[0])
        cursor.execute("ROLLBACK TO SAVEPOINT bench_explain")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + st["sql"], params)
        text = "\n".join(r[0] for r in cursor.fetchall())
        out.append(
            {"sql": one_line(render(cursor, st["sql"], params, {})), "check": check_plan(plan, info), "plan": text}
        )
    return out


def _json_plan(value: Any) -> dict[str, Any]:
    data = json.loads(value) if isinstance(value, str) else value
    return data[0]


# --- main ----------------------------------------------------------------------------------------


def main(spec_path: str, out_dir: str) -> None:
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client

    spec = json.loads(Path(spec_path).read_text())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    client = Client()
    results: dict[str, Any] = {}
    with connection.cursor() as cursor:
        info = relation_info(cursor)
        for endpoint, ep in spec["endpoints"].items():
            write = ep["method"] != "GET"
            entry: dict[str, Any] = {"samples": []}
            scripts: list[str] = []
            for sample in ep["samples"]:
                status, content, statements = capture(client, {**ep, **sample}, write)
                if status >= 300:
                    raise SystemExit(f"{endpoint}: the sample answered {status}: {content[:300]!r}")
                pick: dict[str, Any] = {}
                if ep.get("pick_columns"):
                    cursor.execute(
                        f"SELECT {', '.join(ep['pick_columns'])} FROM bench.pick_{endpoint} WHERE n = %s",
                        [sample["n"]],
                    )
                    row = cursor.fetchone()
                    pick = dict(zip(ep["pick_columns"], row, strict=True))
                if write:
                    script = write_script(cursor, endpoint, statements)
                else:
                    script = pgbench_script(cursor, endpoint, ep, pick, statements)
                scripts.append(script)
                entry["samples"].append({"statements": len(statements), "request": sample["path"]})
                if len(entry["samples"]) == 1:
                    if write:
                        with transaction.atomic():
                            entry["plans"] = explain_write(cursor, statements, info)
                            transaction.set_rollback(True)
                    else:
                        entry["plans"] = explain_reads(cursor, statements, info)
                    entry["statements"] = [{"sql": one_line(s["sql"]), "many": s["many"]} for s in statements]
            paths = []
            for i, script in enumerate(scripts):
                path = out / f"{endpoint}{'' if len(scripts) == 1 else f'-{i + 1:02d}'}.sql"
                path.write_text(script)
                paths.append(str(path))
            entry["pgbench_scripts"] = paths
            results[endpoint] = entry
    (out / "capture.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
