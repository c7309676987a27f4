"""The failover drill and the cost of synchronous replication, on a running `make cluster` (deploy/cluster).

The load: `payers` threads, each paying 1.00 at a time on a credit of its own through the API with
an Idempotency-Key per payment; a payment whose answer was lost (no answer or a 5xx) is retried with
the same key until a definitive answer, as a client should. Every answer is recorded with the
moment, the phase (before / during / after the fault), its latency and whether a 503 carried
Retry-After.

The drill: the primary's Patroni, postmaster and backends are SIGKILLed (the node's whole namespace)
under that load; the seconds until the standby is promoted and until a payment is accepted again are
measured; afterwards every payment that got a 2xx is compared by id with the new primary's rows (none
lost, none doubled), `check_book` runs on it, then the old primary's Patroni is started again and must
come back as a standby (pg_rewind), with exactly one leader. Then one etcd member is stopped: writes
go on and the leader stays. Last, the network partition (`partition_drill`): the leader's link cut
under the load; it must stop taking writes before the other node is promoted, no write tried on it
is acknowledged, nothing lost or doubled, and it rejoins as the standby once the link is back.
"""

from __future__ import annotations

import importlib
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from stress.client import Api
from stress.core import Context

from deploy.cluster.core import ETCDS, PGS, Cluster, ClusterError, executable

# stress's invariant checks (book.py) and its desk (log in, open a credit, pay), loaded at run time:
# mypy, which covers deploy/ but not stress/, would otherwise follow these imports and report
# stress's own unchecked `fetchone()` rows.
_book: Any = importlib.import_module("stress.book")
Desk: Any = importlib.import_module("stress.scenarios.concurrency").Desk
check_book = _book.check_book
check_credit = _book.check_credit


def say(message: str) -> None:
    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", flush=True)


PRICE = "100000.00"
AMOUNT = "1.00"
PROMOTION_LIMIT = 60.0  # the drill gives up on a promotion after this long (the aim is <= 15 s)


@dataclass
class Sample:
    at: float
    phase: str
    status: int
    seconds: float
    retry_after: bool

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Payer:
    credit_id: str
    paid: Decimal = Decimal(0)
    confirmed: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> payment id (2xx)
    key: str | None = None  # a payment whose outcome is not known yet: retried with this key


class NoControl:
    """stress.core.StackControl for the checks that take one: the drill does its faults itself."""

    def stop(self, service: str) -> None:
        raise ClusterError("not used")

    def start(self, service: str) -> None:
        raise ClusterError("not used")

    def kill(self, service: str) -> None:
        raise ClusterError("not used")


def context(ha: Cluster) -> Context:
    """stress's Context on the cluster: the API through its balancer, the primary through dbproxy."""
    logins = ha.state.get("demo_logins") or []
    names: dict[str, list[str]] = {}
    for role, name in logins:
        names.setdefault(role, []).append(name)
    return Context(
        base_url=ha.balancer_url,
        database_url=ha.database_url(),
        password=str(ha.state.get("demo_password") or "demo-pass-2026"),
        admin=(names.get("admin") or ["admin"])[0],
        agents=tuple(names.get("agent") or ("agent1", "agent2")),
        clients=tuple(names.get("client") or ("client1",)),
        control=NoControl(),
        manage_env=ha.manage_env(),
    )


class PaymentLoad:
    """Paying threads on credits of their own; `phase` is set by the drill."""

    def __init__(self, ctx: Context, *, payers: int) -> None:
        self.api = Api(ctx.base_url, timeout=15)
        self.desk = Desk.open(ctx, self.api)
        self.payers = [Payer(self.desk.open_credit(PRICE, 12, client=n)["id"]) for n in range(payers)]
        self.phase = "before"
        self.samples: list[Sample] = []
        self.refused: list[str] = []  # a 4xx: a payment the API would not take (must not happen)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(p,), daemon=True) for p in self.payers]

    def _pay_once(self, payer: Payer) -> None:
        if payer.key is None:
            payer.key = uuid.uuid4().hex
        answer = self.desk.pay(payer.credit_id, AMOUNT, self.desk.agent, key=payer.key, prepay=True)
        with self._lock:
            self.samples.append(
                Sample(time.monotonic(), self.phase, answer.status, answer.seconds, "retry-after" in answer.headers)
            )
        if answer.failed:
            time.sleep(0.1)  # unknown outcome: the same key again
            return
        key, payer.key = payer.key, None
        if not answer.ok:
            with self._lock:
                self.refused.append(f"{answer.status} {str(answer.body)[:200]}")
            return
        if key not in payer.confirmed:
            payer.paid += Decimal(AMOUNT)
        payer.confirmed[key] = str(answer.body["id"])

    def _run(self, payer: Payer) -> None:
        while not self._stop.is_set():
            self._pay_once(payer)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, settle: float = 60.0) -> list[str]:
        """Stop the threads, then settle every payment left with an unknown outcome (its key again);
        returns the keys that never got a definitive answer."""
        self._stop.set()
        for thread in self.threads:
            thread.join(30)
        deadline = time.monotonic() + settle
        for payer in self.payers:
            while payer.key is not None and time.monotonic() < deadline:
                self._pay_once(payer)
        return [p.key for p in self.payers if p.key is not None]

    def in_phase(self, phase: str) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.phase == phase]

    def first_accepted_after(self, since: float) -> float | None:
        """When the first payment answered 2xx after `since` (monotonic seconds), if one has."""
        with self._lock:
            return min((s.at for s in self.samples if s.at > since and s.ok), default=None)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _counts(samples: list[Sample]) -> str:
    by: dict[int, int] = {}
    for s in samples:
        by[s.status] = by.get(s.status, 0) + 1
    return ", ".join(f"{code or 'no answer'}: {n}" for code, n in sorted(by.items())) or "-"


@dataclass
class Report:
    checks: Any = field(default_factory=lambda: _book.Checks())
    figures: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    # What RELIABILITY.md's section shows (deploy/ha/report.py): scenario -> label -> value, in order.
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.checks.failed == 0

    def lines(self) -> list[str]:
        out = [f"failover drill: {'PASSED' if self.ok else 'FAILED'} ({self.checks.passed} checks passed, "
               f"{self.checks.failed} failed)"]  # fmt: skip
        out += [f"  {k}: {v}" for k, v in self.figures.items()]
        out += [f"  {line}" for line in self.details]
        out += [f"  {line}" for line in self.checks.lines]
        return out


def _book_rows(ha: Cluster, credit_ids: list[str]) -> list[tuple[str, str]]:
    """(credit id, payment id) of every payment on these credits, read on the current primary."""
    with psycopg.connect(ha.database_url(), autocommit=True, connect_timeout=5) as db:
        rows = db.execute(
            "SELECT credit_id::text, id::text FROM payments_payment WHERE credit_id = ANY(%s::uuid[])", [credit_ids]
        ).fetchall()
    return [(str(c), str(p)) for c, p in rows]


def _phases(load: PaymentLoad, phases: tuple[str, ...] = ("before", "during", "after")) -> str:
    """Requests (answers) and payments accepted (2xx) per phase."""
    parts = []
    for phase in phases:
        samples = load.in_phase(phase)
        parts.append(f"{phase} {len(samples)} / {sum(s.ok for s in samples)}")
    return "; ".join(parts)


def _answer_checks(checks: Any, load: PaymentLoad, unsettled: list[str], what: str) -> None:
    errors = [s for s in load.samples if s.status >= 500 and s.status != 503]
    no_answer = [s for s in load.samples if s.status == 0]
    bare = [s for s in load.samples if s.status == 503 and not s.retry_after]
    checks.expect(not errors, f"no 5xx but 503 during {what}", _counts(errors))
    checks.expect(not no_answer, "the API always answered (no connection lost)", f"{len(no_answer)} without answer")
    checks.expect(not bare, "every 503 carried Retry-After", f"{len(bare)} without it")
    checks.expect(not load.refused, "no payment refused (4xx)", "; ".join(load.refused[:3]))
    checks.expect(not unsettled, "every payment got a definitive answer with its key", f"{unsettled}")


def _api_pending(load: PaymentLoad, credit_id: str, timeout: float = 45.0) -> Any:
    """The credit's pending amount as the API shows it, asked again for up to `timeout` seconds while
    the API does not answer (a node that just rejoined); None when it never did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return load.desk.api_pending(credit_id)
        except RuntimeError as exc:
            say(f"the API did not answer the balance of {credit_id} ({exc}): again")
            if time.monotonic() > deadline:
                return None
            time.sleep(1)


def _book_check(ha: Cluster, ctx: Context, load: PaymentLoad, checks: Any) -> dict[str, Any]:
    """Every payment confirmed (2xx) by id in the current primary's rows, once; the per-credit checks
    and check_book. Returns the figures: confirmed, keys, in_book, lost, doubled, check_book."""
    credit_ids = [p.credit_id for p in load.payers]
    in_book = [payment for _, payment in _book_rows(ha, credit_ids)]
    confirmed = {pid for p in load.payers for pid in p.confirmed.values()}
    keys = sum(len(p.confirmed) for p in load.payers)
    lost = confirmed - set(in_book)
    unconfirmed = set(in_book) - confirmed
    doubled = len(in_book) - len(set(in_book)) + len(unconfirmed)
    checks.expect(len(confirmed) == keys, "one payment id per Idempotency-Key")
    checks.expect(not lost, "no confirmed payment lost", f"{sorted(lost)[:3]}")
    checks.expect(doubled == 0, "no payment doubled, none without a confirmation", f"{sorted(unconfirmed)[:3]}")
    for payer in load.payers:
        pending = _api_pending(load, payer.credit_id)
        if checks.expect(pending is not None, "the API answered the credit's balance", payer.credit_id):
            check_credit(ctx, checks, payer.credit_id, api_pending=pending)
    failed_before = checks.failed
    check_book(ctx, checks)
    return {
        "confirmed": len(confirmed),
        "keys": keys,
        "in_book": len(in_book),
        "lost": len(lost),
        "doubled": doubled,
        "check_book": "pass" if checks.failed == failed_before else "FAILED",
    }


def patronictl_list(ha: Cluster) -> str:
    done = subprocess.run(  # noqa: S603
        [executable("patronictl") or "patronictl", "-c", str(ha.patroni_config(PGS[0])), "list"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


def _wait_promoted(ha: Cluster, node: str, since: float, timeout: float) -> float | None:
    deadline = since + timeout
    while time.monotonic() < deadline:
        if ha.patroni(node).get("role") in ("master", "primary"):
            return time.monotonic() - since
        time.sleep(0.1)
    return None


def failover_drill(
    ha: Cluster, *, payers: int = 8, before: float = 5.0, after: float = 5.0, partition: bool = True
) -> Report:
    report = Report()
    checks, figures = report.checks, report.figures
    ctx = context(ha)
    ha.set_dynamic(synchronous_mode=True)
    old = ha.wait_sync(60)
    standby = next(pg for pg in PGS if pg != old)
    say(f"drill: leader {old}, synchronous standby {standby}; {payers} paying threads")
    load = PaymentLoad(ctx, payers=payers)
    load.start()
    try:
        time.sleep(before)
        load.phase = "during"
        say(f"drill: SIGKILL {old} (Patroni, postmaster, backends)")
        killed = time.monotonic()
        ha.kill(old)
        promoted = _wait_promoted(ha, standby, killed, PROMOTION_LIMIT)
        accepted_at = None
        if promoted is not None:
            since = killed + promoted
            deadline = killed + PROMOTION_LIMIT
            while accepted_at is None and time.monotonic() < deadline:
                accepted_at = load.first_accepted_after(since)
                time.sleep(0.1)
        load.phase = "after"
        time.sleep(after)
    finally:
        unsettled = load.stop()
    outage = [s for s in load.samples if s.at > killed and (accepted_at is None or s.at < accepted_at)]
    first_failure = min((s.at for s in outage if s.status == 0 or s.status >= 500), default=None)
    figures["killed"] = old
    figures["promoted"] = standby if promoted is not None else "none"
    figures["seconds until the standby was promoted"] = f"{promoted:.1f}" if promoted is not None else "never"
    figures["seconds until payments were accepted again"] = (
        f"{accepted_at - killed:.1f}" if accepted_at is not None else "never"
    )
    if first_failure is not None and accepted_at is not None:
        figures["seconds of failed payments (first failure to first acceptance)"] = f"{accepted_at - first_failure:.1f}"
    for phase in ("before", "during", "after"):
        samples = load.in_phase(phase)
        figures[f"answers {phase}"] = f"{len(samples)} ({_counts(samples)})"
    checks.expect(promoted is not None, "the synchronous standby was promoted", f"within {PROMOTION_LIMIT:.0f} s")
    checks.expect(accepted_at is not None, "payments were accepted again after the failover")
    _answer_checks(checks, load, unsettled, "the failover")

    # Every confirmed payment in the new primary's book, once.
    book = _book_check(ha, ctx, load, checks)
    figures["payments confirmed (2xx)"] = f"{book['confirmed']} ({book['keys']} keys)"
    figures["payments in the new primary's book"] = book["in_book"]
    figures["lost (confirmed, not in the book)"] = book["lost"]
    figures["doubled or unconfirmed rows"] = book["doubled"]
    report.scenarios["primary SIGKILLed"] = {
        "requests / payments accepted per phase": _phases(load),
        "answers during the outage": _counts(load.in_phase("during")),
        "seconds until the standby was promoted": figures["seconds until the standby was promoted"],
        "seconds until payments were accepted again": figures["seconds until payments were accepted again"],
        "payments confirmed / in the new primary's book": f"{book['confirmed']} / {book['in_book']}",
        "payments lost / doubled": f"{book['lost']} / {book['doubled']}",
        "check_book": book["check_book"],
    }

    # The old primary comes back: a standby (pg_rewind), never a second leader.
    say(f"drill: starting {old}'s Patroni again")
    restarted = time.monotonic()
    ha.start(old, wait=False)
    try:
        leader = ha.wait_sync(120)
        figures["seconds until the old primary was a synchronous standby again"] = f"{time.monotonic() - restarted:.1f}"
        checks.expect(leader == standby, f"{standby} stays the only leader", f"leader {leader}")
    except ClusterError as exc:
        checks.expect(False, f"{old} rejoined as a standby", str(exc))
    members = ha.members()
    leaders = [m["name"] for m in members if m.get("role") == "leader"]
    checks.expect(len(leaders) == 1, "exactly one leader (Patroni's /cluster)", f"{members}")
    seen = ha.patroni(old)
    checks.expect(seen.get("role") == "replica", f"{old} is a replica (its REST API)", f"{seen}")
    log = ha.log(old).read_text(errors="replace")
    rewound = "pg_rewind" in log or "rewind" in log.lower()
    figures["old primary rewound (pg_rewind in its log)"] = rewound
    listed = patronictl_list(ha)
    report.details += ["patronictl list after the rejoin:", *listed.strip().splitlines()]
    checks.expect(listed.count("| Leader") == 1, "patronictl list shows one Leader", listed)
    report.scenarios["old primary rejoins"] = {
        "seconds until it was a synchronous standby again": figures.get(
            "seconds until the old primary was a synchronous standby again", "never"
        ),
        "pg_rewind in its log": "yes" if rewound else "no",
        "leaders seen (Patroni's /cluster, patronictl list)": f"{len(leaders)}, {listed.count('| Leader')}",
    }

    # One etcd member stopped, Raft's leader (the hardest case: etcd elects another): nothing changes.
    member = ha.etcd_leader() or ETCDS[0]
    say(f"drill: stopping {member} (etcd's leader) under load")
    load2 = PaymentLoad(ctx, payers=max(2, payers // 2))
    load2.start()
    try:
        time.sleep(2)
        ha.stop(member)
        load2.phase = "during"
        time.sleep(8)
    finally:
        left = load2.stop()
        ha.start(member)
    during = load2.in_phase("during")
    figures[f"with {member} stopped"] = f"{len(during)} answers ({_counts(during)})"
    checks.expect(
        bool(during) and all(200 <= s.status < 300 for s in during) and not left,
        f"payments go on with {member} stopped",
        _counts(during),
    )
    leader_after = ha.leader()
    checks.expect(leader_after == standby, "the leader stays with one etcd member down", f"leader {leader_after}")
    report.scenarios["etcd member lost"] = {
        "member stopped for 8 s under load": f"{member} (Raft's leader)",
        "requests / payments accepted per phase": _phases(load2, ("before", "during")),
        "answers while it was stopped": _counts(during),
        "payments that got no definitive answer": len(left),
        "Patroni's leader": f"{leader_after} (unchanged: {leader_after == standby})",
    }
    if partition:
        partition_drill(ha, payers=payers, report=report)
    return report


@dataclass
class Watch:
    """One look at both PostgreSQL servers during a partition: writable means not in recovery
    (`pg_is_in_recovery()` false); None when the server did not answer."""

    at: float
    old_writable: bool | None  # the isolated node, asked from inside its own namespace
    new_writable: bool | None  # the other node, asked over the bridge


@dataclass
class WriteAttempt:
    at: float
    outcome: str  # ok (acknowledged) | error | no answer
    said: str


class PartitionWatch:
    """Two threads while a node is cut off: one looks at both servers every 0.25 s, one tries a write
    on the isolated node, from inside its namespace, every second."""

    def __init__(self, ha: Cluster, old: str, new: str) -> None:
        self.ha, self.old, self.new = ha, old, new
        self.watches: list[Watch] = []
        self.writes: list[WriteAttempt] = []
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._watch, daemon=True),
                        threading.Thread(target=self._write, daemon=True)]  # fmt: skip

    def _old_writable(self) -> bool | None:
        outcome, said = self.ha.local_sql(self.old, "SELECT pg_is_in_recovery()", timeout=2.0)
        return {"f": True, "t": False}.get(said) if outcome == "ok" else None

    def _watch(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.is_set():
            old = self._old_writable()
            new: bool | None = None
            try:
                if conn is None or conn.closed:
                    conn = self.ha.connect(self.new, "postgres", superuser=True)
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                new = None if row is None else not row[0]
            except psycopg.Error:
                conn = None
            self.watches.append(Watch(time.monotonic(), old, new))
            self._stop.wait(0.25)
        if conn is not None:
            conn.close()

    def _write(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            outcome, said = self.ha.local_sql(self.old, "INSERT INTO ha_partition_probe VALUES (now(), 1)", timeout=3.0)
            self.writes.append(WriteAttempt(started, outcome, said))
            self._stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(10)

    def first(self, since: float, *, old: bool | None = None, new: bool | None = None) -> float | None:
        """When (monotonic) a look after `since` first saw the old server as `old` or the new as `new`."""
        for w in list(self.watches):
            if w.at > since and (
                (old is not None and w.old_writable is old) or (new is not None and w.new_writable is new)
            ):
                return w.at
        return None

    def writable_until(self, since: float) -> float | None:
        """When (monotonic) the isolated server was last seen writable after `since`: from the next look
        on it never was again (it answered read-only, in recovery, or refused connections: stopped)."""
        seen = [w.at for w in list(self.watches) if w.at > since and w.old_writable]
        return max(seen) if seen else None

    def no_longer_writable(self, since: float) -> float | None:
        last = self.writable_until(since) or since
        return next((w.at for w in list(self.watches) if w.at > last and not w.old_writable), None)

    def both_writable(self) -> int:
        return sum(1 for w in self.watches if w.old_writable and w.new_writable)


def _rewinds(ha: Cluster, node: str) -> int:
    return ha.log(node).read_text(errors="replace").lower().count("rewind")


def partition_drill(
    ha: Cluster, *, payers: int = 8, before: float = 5.0, after: float = 5.0, report: Report | None = None
) -> Report:
    """The leader's node cut off from the network (its link down) under the payment load: its Patroni,
    unable to renew the leader key in etcd, must demote it (read-only, checked from inside its namespace)
    before the other node is promoted; a write tried on it meanwhile must never be acknowledged; every
    2xx payment in the new primary's book, none doubled; the link restored, it rejoins as the standby."""
    report = report if report is not None else Report()
    checks, figures = report.checks, report.figures
    ctx = context(ha)
    ha.set_dynamic(synchronous_mode=True)
    old = ha.wait_sync(120)
    new = next(pg for pg in PGS if pg != old)
    with ha.connect(old, "postgres", superuser=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ha_partition_probe")
        conn.execute("CREATE TABLE ha_partition_probe (at timestamptz, n integer)")
    rewinds = _rewinds(ha, old)
    demotions = ha.log(old).read_text(errors="replace").count("demoting self because DCS is not accessible")
    say(f"partition: leader {old}, synchronous standby {new}; {payers} paying threads")
    load = PaymentLoad(ctx, payers=payers)
    watch = PartitionWatch(ha, old, new)
    cut = demoted = promoted = accepted_at = None
    isolated_view: dict[str, Any] = {}
    isolated_sql = ("not asked", "")
    unsettled: list[str] | None = None
    load.start()
    try:
        time.sleep(before)
        load.phase = "during"
        say(f"partition: {old}'s link down (its processes keep running)")
        cut = time.monotonic()
        ha.disconnect(old)
        watch.start()
        deadline = cut + PROMOTION_LIMIT
        while time.monotonic() < deadline and (promoted is None or demoted is None):
            promoted = promoted or watch.first(cut, new=True)
            demoted = watch.no_longer_writable(cut)
            time.sleep(0.1)
        while promoted is not None and accepted_at is None and time.monotonic() < deadline:
            accepted_at = load.first_accepted_after(promoted)
            time.sleep(0.1)
        load.phase = "after"
        time.sleep(after)
        isolated_view = ha.local_patroni(old)  # still cut off: its own REST API, from inside
        isolated_sql = ha.local_sql(old, "SELECT pg_is_in_recovery()")
        watch.stop()
        unsettled = load.stop()
    finally:
        watch.stop()
        if cut is not None:
            say(f"partition: {old}'s link up again")
            ha.reconnect(old)
        if unsettled is None:
            unsettled = load.stop()
    assert cut is not None  # the try above either set it or raised

    def since_cut(at: float | None) -> str:
        return f"{at - cut:.1f}" if at is not None else "never"

    demoted = watch.no_longer_writable(cut)  # all the looks, up to the link's restoration
    writes = watch.writes
    acknowledged = [w for w in writes if w.outcome == "ok"]
    refused = [w for w in writes if w.outcome != "ok"]
    hung = [w for w in writes if w.outcome == "no answer"]
    overlap = watch.both_writable()
    figures["partition: isolated"] = old
    figures["partition: seconds until the isolated primary was read-only (demoted)"] = since_cut(demoted)
    figures["partition: seconds until the other node was promoted"] = since_cut(promoted)
    figures["partition: seconds until payments were accepted again"] = since_cut(accepted_at)
    figures["partition: writes tried on the isolated node / acknowledged"] = f"{len(writes)} / {len(acknowledged)}"
    figures["partition: isolated node's Patroni (its own REST API)"] = (
        f"{isolated_view.get('role')}, {isolated_view.get('state')}" if isolated_view else "no answer"
    )
    figures["partition: isolated server, pg_is_in_recovery() from inside at the end"] = (
        f"{isolated_sql[0]}: {isolated_sql[1][:160]}"
    )
    report.details += [f"partition: write on {old} at +{w.at - cut:.1f} s: {w.outcome} ({w.said[:120]})" for w in
                       writes[:3] + writes[-2:]]  # fmt: skip
    checks.expect(
        demoted is not None,
        f"{old}, cut off, stopped being writable (pg_is_in_recovery() or a refused connection, from inside)",
    )
    checks.expect(promoted is not None, f"{new} was promoted", f"within {PROMOTION_LIMIT:.0f} s")
    checks.expect(
        demoted is not None and promoted is not None and demoted < promoted,
        "the isolated primary was read-only before the other node was promoted",
        f"demoted +{since_cut(demoted)} s, promoted +{since_cut(promoted)} s",
    )
    checks.expect(overlap == 0, "never two writable servers at once", f"{overlap} looks saw both writable")
    checks.expect(bool(writes) and not acknowledged, "no write acknowledged on the isolated node",
                  "; ".join(f"+{w.at - cut:.1f} s" for w in acknowledged[:5]) or "no write tried")  # fmt: skip
    # Patroni demotes "offline": it stops PostgreSQL (fast), whose walsender then waits for the cut-off
    # standby (wal_sender_timeout) before the shutdown completes; meanwhile the server refuses every
    # connection and Patroni's REST API says role master, state "stopping", cluster_unlocked.
    leading = isolated_view.get("role") in ("master", "primary") and isolated_view.get("state") == "running"
    checks.expect(not leading, f"{old}'s Patroni does not run as the leader while cut off", f"{isolated_view}")
    said = ha.log(old).read_text(errors="replace").count("demoting self because DCS is not accessible")
    checks.expect(said > demotions, f"{old}'s Patroni demoted itself (its log: DCS not accessible)")
    checks.expect(accepted_at is not None, "payments were accepted again through the API during the partition")
    _answer_checks(checks, load, unsettled, "the partition")
    book = _book_check(ha, ctx, load, checks)
    figures["partition: payments confirmed / in the new primary's book"] = f"{book['confirmed']} / {book['in_book']}"
    figures["partition: lost / doubled"] = f"{book['lost']} / {book['doubled']}"

    say(f"partition: waiting for {old} to rejoin as the standby")
    restored = time.monotonic()
    leaders_after = "none"
    try:
        leader = ha.wait_sync(120)
        figures["partition: seconds until the old primary was a synchronous standby again"] = (
            f"{time.monotonic() - restored:.1f}"
        )
        checks.expect(leader == new, f"{new} stays the only leader after the link is back", f"leader {leader}")
    except ClusterError as exc:
        checks.expect(False, f"{old} rejoined as a standby after the partition", str(exc))
    members = ha.members()
    leaders = [m["name"] for m in members if m.get("role") == "leader"]
    leaders_after = ", ".join(leaders) or "none"
    checks.expect(len(leaders) == 1, "exactly one leader after the partition (Patroni's /cluster)", f"{members}")
    seen = ha.patroni(old)
    checks.expect(seen.get("role") == "replica", f"{old} is a replica after the partition", f"{seen}")
    rewound = _rewinds(ha, old) > rewinds
    figures["partition: old primary rewound (pg_rewind in its log)"] = rewound
    kept = -1
    leader_now = ha.leader()
    if leader_now is not None:
        with ha.connect(leader_now, "postgres", superuser=True) as conn:
            row = conn.execute("SELECT count(*) FROM ha_partition_probe").fetchone()
            kept = int(row[0]) if row else -1
            conn.execute("DROP TABLE IF EXISTS ha_partition_probe")
    checks.expect(kept == 0, "no write tried on the isolated node survived anywhere", f"{kept} rows")
    report.scenarios["network partition"] = {
        "the cut": f"{old}'s link down (leader, its processes running), {new} the synchronous standby",
        "requests / payments accepted per phase": _phases(load),
        "answers while cut off until payments were accepted again": _counts(load.in_phase("during")),
        "seconds until the isolated primary took no more writes (from inside: in recovery or refusing connections)": (
            since_cut(demoted)
        ),
        "seconds until the other node was promoted": since_cut(promoted),
        "seconds until payments were accepted again": since_cut(accepted_at),
        "writes tried on the isolated node (psql from inside its namespace)": (
            f"{len(writes)}: {len(acknowledged)} acknowledged, {len(refused) - len(hung)} refused, "
            f"{len(hung)} left waiting for the synchronous standby (no answer in 3 s), {max(kept, 0)} kept"
        ),
        "its Patroni while cut off (its own REST API)": figures[
            "partition: isolated node's Patroni (its own REST API)"
        ],
        "its server at the end of the cut (psql from inside)": figures[
            "partition: isolated server, pg_is_in_recovery() from inside at the end"
        ],
        "looks that saw two writable servers": overlap,
        "payments confirmed / in the new primary's book": f"{book['confirmed']} / {book['in_book']}",
        "payments lost / doubled": f"{book['lost']} / {book['doubled']}",
        "check_book": book["check_book"],
        "link restored: a synchronous standby again after (s)": figures.get(
            "partition: seconds until the old primary was a synchronous standby again", "never"
        ),
        "pg_rewind": "yes" if rewound else "no",
        "leaders after the rejoin (Patroni's /cluster)": f"{len(leaders)} ({leaders_after})",
    }
    return report


def _sync_names(ha: Cluster, leader: str) -> str:
    with ha.connect(leader, "postgres", superuser=True) as conn:
        row = conn.execute("SHOW synchronous_standby_names").fetchone()
    return str(row[0]) if row else ""


def _wait_sync_names(ha: Cluster, on: bool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    names = ""
    while time.monotonic() < deadline:
        leader = ha.leader()
        if leader is not None:
            names = _sync_names(ha, leader)
            if bool(names) == on:
                return
        time.sleep(0.3)
    raise ClusterError(f"synchronous_standby_names is {names!r} {timeout:.0f} s after synchronous_mode={on}")


def commit_latencies(ha: Cluster, leader: str, commits: int = 1000) -> list[float]:
    """Milliseconds per commit of one client inserting a row at a time on the leader, in a scratch table
    of the `postgres` database (not the app's): each commit waits for the WAL flush and, in synchronous
    mode, for the standby's."""
    took = []
    with ha.connect(leader, "postgres", superuser=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ha_commit_probe (n integer)")
        for n in range(commits):
            started = time.perf_counter()
            conn.execute("INSERT INTO ha_commit_probe VALUES (%s)", [n])
            took.append((time.perf_counter() - started) * 1000)
        conn.execute("DROP TABLE ha_commit_probe")
    return took


def sync_cost(ha: Cluster, *, seconds: float = 20.0, payers: int = 8) -> dict[str, dict[str, float]]:
    """Payments/s and latency through the API with synchronous_mode on, then off (then on again)."""
    ctx = context(ha)
    results: dict[str, dict[str, float]] = {}
    try:
        for on in (True, False):
            ha.set_dynamic(synchronous_mode=on)
            _wait_sync_names(ha, on)
            if on:
                ha.wait_sync(60)
            leader = ha.leader() or PGS[0]
            commits = commit_latencies(ha, leader)
            load = PaymentLoad(ctx, payers=payers)
            load.start()
            time.sleep(2)  # warm up
            load.phase = "measured"
            time.sleep(seconds)
            load.phase = "after"
            load.stop()
            measured = [s for s in load.in_phase("measured") if 200 <= s.status < 300]
            latencies = [s.seconds * 1000 for s in measured]
            name = "synchronous_mode on" if on else "synchronous_mode off"
            results[name] = {
                "payments_per_s": len(measured) / seconds,
                "p50_ms": _percentile(latencies, 0.5),
                "p99_ms": _percentile(latencies, 0.99),
                "failed": float(sum(s.status == 0 or s.status >= 500 for s in load.in_phase("measured"))),
                "commit_p50_ms": _percentile(commits, 0.5),
                "commit_p99_ms": _percentile(commits, 0.99),
            }
            r = results[name]
            say(f"{name}: {r['payments_per_s']:.1f} payments/s, p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms "
                f"({payers} threads, {seconds:.0f} s, {r['failed']:.0f} failed); one client's commit on the leader: "
                f"p50 {r['commit_p50_ms']:.2f} ms, p99 {r['commit_p99_ms']:.2f} ms")  # fmt: skip
    finally:
        ha.set_dynamic(synchronous_mode=True)
        _wait_sync_names(ha, True)
    return results
