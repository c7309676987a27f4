"""A large credit book for timing the nightly delinquency job, generated in SQL in minutes.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/fc_nightly_5m \
        .venv/bin/python bench/nightly_scale.py --credits 5000000 [--keep]

Creates the database if needed, migrates it, writes users, credits and installments with
`INSERT ... SELECT generate_series` (indexes and foreign keys dropped during the load and rebuilt
after), then times `manage.py nightly` twice: the first night on a book that never had a run
(every delinquent credit gets its first snapshot, fees and bookings), then, after VACUUM ANALYZE
(what autovacuum does between nights), the next night: the steady state.

The shape follows `manage.py seed_data`'s book at level 1 (measured): about 74 % of credits paid,
15 % active, 8.6 % defaulted, the rest written off, pending or cancelled; 7 installments per
credit on average; a third of the active credits one or two installments behind, the defaulted
ones four to six. Only the tables the nightly job reads and writes are filled (no payment rows;
the ledger starts empty), which is what its cost depends on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import psycopg

ROOT = Path(__file__).resolve().parents[1]

USERS = """
INSERT INTO identity_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
                           date_joined, public_id, role, phone, document_id)
SELECT '!', false, 'bench_' || n, '', '', '', false, true, now(), gen_random_uuid(),
       CASE WHEN n <= %(agents)s THEN 'agent' ELSE 'client' END, '', ''
FROM generate_series(1, %(users)s) AS n
"""

# Credit n's id: version-7 layout, growing with n (so a range of n is a range of ids).
CREDIT_ID = (
    "(lpad(to_hex(1700000000000 + {n}), 12, '0') || '7' || lpad(to_hex({n} %% 4096), 3, '0') || '8' "
    "|| lpad(to_hex({n}), 15, '0'))::uuid"
)

# Credit n: its age, state and how far behind it is come from hashes of n (deterministic).
CREDITS = """
INSERT INTO credits_credit (id, user_id, agent_id, currency, price, cost, subcategory_id, periodicity,
    interest_method, annual_rate, installments_count, opened_on, state, refinanced_from_id, delinquency_as_of,
    days_past_due, aging_bucket, missed_installments, morosidad_level, is_in_default, version, created_at)
SELECT {credit_id},
       %(first_client)s + (n * 7919) %% %(clients)s, %(first_agent)s + n %% %(agents)s,
       CASE WHEN n %% 30 = 0 THEN 'USD' WHEN n %% 31 = 0 THEN 'CLP' ELSE 'COP' END,
       p.price, round(p.price * 0.7, 0), NULL, 'monthly', 'french', 0.24, 6 + n %% 3,
       %(today)s::date - s.age, s.state, NULL, NULL, 0, 'current', 0, 0, false, 1, now()
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS n
CROSS JOIN LATERAL (SELECT (CASE WHEN n %% 31 = 0 THEN 100000 + (n * 104729) %% 4000000
                                 ELSE 100 + (n * 104729) %% 40000 END)::numeric AS price) p
CROSS JOIN LATERAL (SELECT hashint4(n::int) & 1023 AS h, 30 + (hashint4(n::int + 1) & 2147483647) %% 700 AS age) r
CROSS JOIN LATERAL (SELECT r.age + CASE WHEN r.h < 88 THEN 150 ELSE 0 END AS age,
                           CASE WHEN r.h < 88 THEN 'defaulted' WHEN r.h < 242 THEN 'active'
                                WHEN r.h < 1000 THEN 'paid' WHEN r.h < 1013 THEN 'written_off'
                                WHEN r.h < 1018 THEN 'pending' ELSE 'cancelled' END AS state) s
""".replace("{credit_id}", CREDIT_ID.format(n="n"))

# Installment k of credit c: monthly from the opening; settled unless the credit is behind on it.
INSTALLMENTS = """
INSERT INTO credits_installment (id, credit_id, agent_id, number, due_date, principal, interest, adjustment,
    late_fee, late_fee_waived, paid_principal, paid_interest, paid_late_fee, is_settled, credit_open)
SELECT (lpad(to_hex(1700000000000 + c.n), 12, '0') || '7' || lpad(to_hex(k), 3, '0') || '9'
        || lpad(to_hex(c.n), 15, '0'))::uuid,
       c.id, c.agent_id, k, c.opened_on + 30 * k, a.principal, a.interest, 0, 0, 0,
       CASE WHEN a.settled THEN a.principal WHEN a.partial THEN round(a.principal * 0.4, m.minor) ELSE 0 END,
       CASE WHEN a.settled OR a.partial THEN a.interest ELSE 0 END,
       0, a.settled, c.state IN ('active', 'defaulted')
FROM (SELECT id, agent_id, opened_on, state, price, installments_count AS cnt, currency,
             ('x' || right(id::text, 8))::bit(32)::int AS n
      FROM credits_credit WHERE id BETWEEN %(lo_id)s AND %(hi_id)s) c
JOIN (VALUES ('COP', 2), ('USD', 2), ('CLP', 0)) AS m (code, minor) ON m.code = c.currency
CROSS JOIN LATERAL generate_series(1, c.cnt) AS k
CROSS JOIN LATERAL (
    -- installments due before today; a late credit owes its last `behind` of them
    SELECT least(c.cnt, (%(today)s::date - c.opened_on - 1) / 30) AS due,
           CASE WHEN c.state = 'defaulted' THEN 4 + c.n %% 3
                WHEN c.state = 'active' AND c.n %% 3 = 0 THEN 1 + c.n %% 2 ELSE 0 END AS behind
) b
CROSS JOIN LATERAL (
    SELECT CASE WHEN k < c.cnt THEN round(c.price / c.cnt, m.minor)
                ELSE c.price - round(c.price / c.cnt, m.minor) * (c.cnt - 1) END AS principal,
           round(c.price * 0.02, m.minor) AS interest,
           CASE WHEN c.state = 'paid' THEN true
                WHEN c.state IN ('active', 'defaulted') THEN k <= b.due - b.behind
                ELSE false END AS settled,
           c.state IN ('active', 'defaulted') AND k %% 4 = 1 AS partial
) a
"""

DROP_SAVE = """
SELECT 'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' || quote_ident(ic.relname)
       || substring(pg_get_indexdef(i.indexrelid) FROM ' ON .*'), 'DROP INDEX ' || quote_ident(ic.relname)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = %(table)s::regclass AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
UNION ALL
SELECT 'ALTER TABLE ' || %(table)s || ' ADD CONSTRAINT ' || quote_ident(conname) || ' ' || pg_get_constraintdef(oid),
       'ALTER TABLE ' || %(table)s || ' DROP CONSTRAINT ' || quote_ident(conname)
FROM pg_constraint WHERE conrelid = %(table)s::regclass AND contype IN ('f', 'u')
"""


def _say(message: str) -> None:
    print(message, flush=True)


def _timed(cursor: psycopg.Cursor, label: str, sql: str, params: dict | None = None) -> None:
    started = time.monotonic()
    cursor.execute(sql, params)
    _say(f"  {label}: {cursor.rowcount:,} rows in {time.monotonic() - started:.1f} s")


def build(url: str, credits: int, today: date) -> None:
    parsed = urlparse(url)
    admin = url.replace(parsed.path, "/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [parsed.path[1:]]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.path[1:]}"')
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True, env=env)
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM credits_credit")
        if cursor.fetchone()[0]:
            _say("the book is already there")
            return
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET synchronous_commit = off")
        restore: list[str] = []
        for table in ("credits_installment", "credits_credit"):
            cursor.execute(DROP_SAVE, {"table": table})
            for create, drop in cursor.fetchall():
                restore.append(create)
                cursor.execute(drop)
        users = max(1000, credits // 5)
        agents = max(10, users // 200)
        cursor.execute("SELECT COALESCE(max(id), 0) FROM identity_user")
        base = cursor.fetchone()[0]
        _timed(cursor, "users", USERS, {"users": users, "agents": agents})
        step = 500_000
        for lo in range(1, credits + 1, step):
            hi = min(credits, lo + step - 1)
            _timed(cursor, f"credits {lo:,}-{hi:,}", CREDITS, {
                "lo": lo, "hi": hi, "today": today, "first_agent": base + 1, "agents": agents,
                "first_client": base + agents + 1, "clients": users - agents,
            })  # fmt: skip
            bounds = f"SELECT {CREDIT_ID.format(n='%(lo)s::bigint')}, {CREDIT_ID.format(n='%(hi)s::bigint')}"
            cursor.execute(bounds, {"lo": lo, "hi": hi})
            lo_id, hi_id = cursor.fetchone()
            params = {"lo_id": lo_id, "hi_id": hi_id, "today": today}
            _timed(cursor, f"installments of {lo:,}-{hi:,}", INSTALLMENTS, params)
        for statement in reversed(restore):
            started = time.monotonic()
            cursor.execute(statement)
            _say(f"  {statement[:90]}... {time.monotonic() - started:.1f} s")
        _timed(cursor, "vacuum analyze", "VACUUM ANALYZE credits_credit, credits_installment, identity_user")


def nightly(url: str, day: date) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "nightly", "--as-of", day.isoformat()],
        check=True, env=env, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--credits", type=int, default=1_000_000)
    parser.add_argument("--today", type=date.fromisoformat, default=datetime.now(ZoneInfo("America/Bogota")).date())
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    if not args.skip_build:
        build(url, args.credits, args.today)
    with psycopg.connect(url) as conn:
        sizes = conn.execute(
            "SELECT relname, reltuples::bigint, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relname IN ('credits_credit', 'credits_installment')"
        ).fetchall()
    _say(f"book: {sizes}")
    first = nightly(url, args.today - timedelta(days=1))
    _say(f"first night ({first['as_of']}): {json.dumps(first)}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE credits_credit, credits_installment, ledger_transaction, ledger_posting")
    steady = nightly(url, args.today)
    _say(f"next night ({steady['as_of']}): {json.dumps(steady)}")
    again = nightly(url, args.today)
    _say(f"same night again: {json.dumps(again)}")


if __name__ == "__main__":
    main()
