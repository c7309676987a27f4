"""Attacks: broken object-level authorization over every operation, token forgery, refresh-token
reuse, login brute force and user enumeration, and the security headers of every answer.

The operation table below classifies every operation of the API; tests/e2e/test_bola.py fails when
the API has an operation the table does not classify, so a new endpoint is attacked from its first
day. The matrix runner is shared: the test drives it through Django's test client, `run(ctx)` over
HTTP against a running stack (`python -m stress --only attacks`, or by hand against `make run`).

Callers, against client B's resources: client A (`stranger_client`), an agent whose portfolio holds
none of B's credits (`stranger_agent`), B itself (`owner`), B's agent (`owner_agent`), an admin.
The convention (PRODUCT.md): what the caller may not see is a 404 (existence never leaks); what
its role may not do, on something it may see, is a 403.
"""

from __future__ import annotations

import base64
import json
import os
import re
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from stress.core import Context, Result

SECTION = "Attacks"
PREFIX = "/api/v1"
CALLERS = ("stranger_client", "stranger_agent", "owner", "owner_agent", "admin")
ROLES = ("client", "agent", "admin")


class Reply(Protocol):
    status: int
    body: Any
    headers: dict[str, str]  # lower-case names


# call(method, path, token, body, headers) -> Reply; path includes /api/v1
Call = Callable[[str, str, "str | None", Any, "dict[str, str] | None"], Reply]


@dataclass
class Refs:
    """Client B's resources (public ids) and what a valid body needs."""

    credit_id: str
    payment_id: str
    installment_id: str
    waiver_id: str | None
    user_id: str  # B's public id
    job_id: str | None
    currency: str
    account_id: int  # a payment account in the credit's currency
    client_a_id: str  # A's public id (a body that opens a credit)
    client_b_username: str = ""  # what an agent types to find B before opening a credit for it

    def path_value(self, name: str) -> str | None:
        return {
            "credit_id": self.credit_id,
            "payment_id": self.payment_id,
            "installment_id": self.installment_id,
            "waiver_id": self.waiver_id,
            "user_id": self.user_id,
            "job_id": self.job_id,
        }[name]


def _money(refs: Refs, amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": refs.currency}


def _today() -> date:
    return date.today()  # noqa: DTZ011 - the machine's date: a month ahead or 200 days back, any zone will do


def _soon() -> str:
    return (_today() + timedelta(days=30)).isoformat()


@dataclass(frozen=True)
class Op:
    """kind: public (no token), resource (takes one of B's ids: `expect` per caller), or role
    (no id: `expect` per role). An expectation of None means the call is not made (and why)."""

    kind: str
    expect: dict[str, int | None] = field(default_factory=dict)
    body: Callable[[Refs], dict[str, Any]] | None = None
    why_skipped: str = ""
    query: Callable[[Refs], str] | None = None  # a query string the operation needs ("?a=b")

    def target(self, template: str, refs: Refs) -> str:
        return PREFIX + template + (self.query(refs) if self.query else "")


def _resource(
    stranger_client: int,
    stranger_agent: int,
    owner: int,
    owner_agent: int,
    admin: int,
    body: Callable[[Refs], dict[str, Any]] | None = None,
) -> Op:
    return Op(
        "resource",
        {
            "stranger_client": stranger_client,
            "stranger_agent": stranger_agent,
            "owner": owner,
            "owner_agent": owner_agent,
            "admin": admin,
        },
        body,
    )


def _role(
    client: int | None,
    agent: int | None,
    admin: int | None,
    body: Callable[[Refs], dict[str, Any]] | None = None,
    query: Callable[[Refs], str] | None = None,
) -> Op:
    return Op("role", {"client": client, "agent": agent, "admin": admin}, body, query=query)


_UNIQUE = uuid.uuid4().hex[:6]

# Every operation of the API, by (method, path under /api/v1).
OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/auth/token"): Op("public"),
    ("POST", "/auth/refresh"): Op("public"),
    ("POST", "/auth/logout"): Op("public"),
    ("GET", "/ping"): Op("public"),
    ("GET", "/health"): Op("public"),
    # Any signed-in user; client A's answers are checked for B's data by the list probes.
    ("GET", "/me"): _role(200, 200, 200),
    ("GET", "/me/credit-summary"): _role(200, 200, 200),
    ("GET", "/currencies"): _role(200, 200, 200),
    ("GET", "/categories"): _role(200, 200, 200),
    ("GET", "/subcategories"): _role(200, 200, 200),
    ("GET", "/periodicities"): _role(200, 200, 200),
    ("GET", "/payment-accounts"): _role(200, 200, 200),
    ("GET", "/holidays"): _role(200, 200, 200),
    ("GET", "/credits"): _role(200, 200, 200),
    ("GET", "/transactions"): _role(200, 200, 200),
    # Admin-only catalog writes.
    ("POST", "/currencies"): _role(
        403, 403, 201, lambda r: {"code": "Q" + _UNIQUE[:2].upper().translate(_LETTERS), "name": "x", "minor_units": 2}
    ),
    ("POST", "/categories"): _role(403, 403, 201, lambda r: {"name": f"bola {_UNIQUE}"}),
    ("POST", "/subcategories"): _role(403, 403, None, lambda r: {"category_id": 1, "name": f"bola {_UNIQUE}"}),
    ("POST", "/payment-accounts"): _role(
        403, 403, 201, lambda r: {"name": f"bola {_UNIQUE}", "kind": "cash", "currency": r.currency}
    ),
    ("POST", "/holidays"): _role(403, 403, None, lambda r: {"date": "2031-12-24", "name": f"bola {_UNIQUE}"}),
    # Staff: agents open credits for clients (into their own portfolio), onboard clients.
    ("POST", "/credits"): _role(
        403,
        201,
        201,
        lambda r: {
            "client_id": r.client_a_id,
            "price": _money(r, "100.00"),
            "cost": _money(r, "70.00"),
            "periodicity": "monthly",
            "installments": 2,
            "first_due_date": _soon(),
            "interest_method": "zero_interest",
            "annual_rate": "0",
        },
    ),
    # Agents list their portfolio's clients (list probes below); anyone else they find by exact
    # national id or username, seeing only name, masked id and the id that opens a credit.
    ("GET", "/clients"): _role(403, 200, 200),
    ("GET", "/clients/lookup"): _role(403, 200, 200, query=lambda r: f"?username={r.client_b_username or 'nobody'}"),
    ("POST", "/clients"): _role(
        403,
        403,  # the body asks for an agent: only admins create agents
        None,
        lambda r: {"username": f"bola-{uuid.uuid4().hex[:10]}", "password": "Xq7!long-enough-pass", "role": "agent"},
    ),
    ("GET", "/collections/due-today"): _role(403, 200, 200),
    ("GET", "/collections/due-tomorrow"): _role(403, 200, 200),
    ("GET", "/collections/overdue"): _role(403, 200, 200),
    ("GET", "/collections/portfolio"): _role(403, 200, 200),
    ("GET", "/portfolio/kpis"): _role(403, 403, 200),
    ("GET", "/portfolio/aging"): _role(403, 403, 200),
    ("GET", "/audit"): _role(403, 403, 200),
    # The admin's call enqueues on the broker: left to tests/e2e/test_jobs_api.py and the worker tests.
    ("POST", "/jobs/portfolio-analysis"): _role(403, 403, None, lambda r: {}),
    # Operations on one of B's resources.
    ("GET", "/credits/{credit_id}"): _resource(404, 404, 200, 200, 200),
    ("GET", "/credits/{credit_id}/installments"): _resource(404, 404, 200, 200, 200),
    ("GET", "/credits/{credit_id}/payments"): _resource(404, 404, 200, 200, 200),
    ("POST", "/credits/{credit_id}/payments"): _resource(
        404,
        404,
        403,
        201,
        201,
        lambda r: {
            "amount": _money(r, "1.00"),
            "lines": [{"payment_account_id": r.account_id, "amount": _money(r, "1.00")}],
        },
    ),
    ("POST", "/credits/{credit_id}/adjustments"): _resource(
        404, 404, 403, 403, 200, lambda r: {"amount": _money(r, "1.00"), "reason": "bola check"}
    ),
    ("POST", "/credits/{credit_id}/write-off"): _resource(404, 404, 403, 403, 200, lambda r: {"reason": "bola check"}),
    ("POST", "/credits/{credit_id}/refinance"): _resource(
        404,
        404,
        403,
        403,
        201,
        lambda r: {
            "installments": 3,
            "periodicity": "monthly",
            "first_due_date": _soon(),
            "interest_method": "zero_interest",
            "annual_rate": "0",
            "reason": "bola check",
        },
    ),
    ("POST", "/payments/{payment_id}/reversal"): _resource(404, 404, 403, 403, 200, lambda r: {"reason": "bola check"}),
    ("POST", "/installments/{installment_id}/fee-waivers"): _resource(
        404, 404, 403, 201, 201, lambda r: {"amount": _money(r, "0.01"), "reason": "bola check"}
    ),
    ("POST", "/fee-waivers/{waiver_id}/decision"): _resource(
        404, 404, 403, 403, 200, lambda r: {"approve": False, "note": "bola check"}
    ),
    ("GET", "/users/{user_id}/credit-summary"): _resource(403, 404, 403, 200, 200),
    ("GET", "/jobs/{job_id}"): _resource(403, 403, 403, 403, 200),
    ("GET", "/jobs/{job_id}/result.csv"): _resource(403, 403, 403, 403, 200),
}
_LETTERS = str.maketrans("0123456789", "ABCDEFGHIJ")

PATH_PARAM = re.compile(r"{(\w+)}")


# --- the matrix ------------------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    errors_5xx: int = 0
    passed: int = 0
    failed: int = 0
    lines: list[str] = field(default_factory=list)
    headers_checked: int = 0

    def expect(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.lines.append(f"FAILED: {what}")
        return ok

    def into(self, result: Result) -> Result:
        result.requests += self.requests
        result.errors_5xx += self.errors_5xx
        result.checks_passed += self.passed
        result.checks_failed += self.failed
        result.details.extend(self.lines)
        return result


def text_of(reply: Reply) -> str:
    body = reply.body
    if body is None:
        return ""
    return body if isinstance(body, str) else json.dumps(body)


def send(tally: Tally, call: Call, method: str, path: str, token: str | None, body: Any = None) -> Reply:
    headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else None
    reply = call(method, path, token, body, headers)
    tally.requests += 1
    if reply.status == 0 or reply.status >= 500:
        tally.errors_5xx += 1
        tally.lines.append(f"5xx: {method} {path} -> {reply.status}")
    check_headers(tally, reply, path)
    return reply


def check_headers(tally: Tally, reply: Reply, path: str) -> None:
    """The security headers every answer must carry (counted once per answer, failures named)."""
    h = {k.lower(): v for k, v in reply.headers.items()}
    missing = []
    if h.get("x-content-type-options") != "nosniff":
        missing.append("nosniff")
    if h.get("x-frame-options", "").upper() != "DENY":
        missing.append("X-Frame-Options")
    if not h.get("referrer-policy"):
        missing.append("Referrer-Policy")
    if "frame-ancestors 'none'" not in h.get("content-security-policy", ""):
        missing.append("CSP")
    if path.startswith(PREFIX) and "no-store" not in h.get("cache-control", ""):
        missing.append("Cache-Control no-store")
    tally.headers_checked += 1
    tally.expect(not missing, f"security headers on {path} ({reply.status}): missing {', '.join(missing)}")


def is_envelope(reply: Reply, *codes: str) -> bool:
    body = reply.body
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"], dict)
        and (not codes or body["error"].get("code") in codes)
    )


def leaks(reply: Reply, markers: set[str], path: str) -> list[str]:
    """B's identifiers and figures found in the answer (not counting what the caller put in the path)."""
    text = text_of(reply)
    return sorted(m for m in markers if m and m not in path and m in text)


def fill(path: str, refs: Refs) -> str | None:
    values = {name: refs.path_value(name) for name in PATH_PARAM.findall(path)}
    if any(v is None for v in values.values()):
        return None
    return PREFIX + path.format(**values)


def attack_resource(
    tally: Tally,
    call: Call,
    key: tuple[str, str],
    tokens: dict[str, str],
    refs: Refs,
    markers: set[str],
    *,
    allowed_too: bool = True,
    strict: bool = True,
) -> None:
    """Every forbidden caller first (each must get its 403/404 envelope with none of B's data), then
    the allowed ones. `strict=False` (a shared demo book): an allowed call may also be refused by a
    business rule (409/422 with a domain code): it got past authorization, which is what is tested."""
    method, template = key
    op = OPERATIONS[key]
    path = fill(template, refs)
    if path is None:
        tally.lines.append(f"not exercised: {method} {template} (no such resource to aim at)")
        return
    body = op.body(refs) if op.body else None
    for caller in CALLERS:
        expected = op.expect[caller]
        if expected is None or expected < 400:
            continue
        reply = send(tally, call, method, path, tokens[caller], body)
        code = "not_found" if expected == 404 else "forbidden"
        tally.expect(
            reply.status == expected and is_envelope(reply, code),
            f"{caller} {method} {template}: expected {expected} {code}, got {reply.status} {text_of(reply)[:120]}",
        )
        found = leaks(reply, markers, path)
        tally.expect(not found, f"{caller} {method} {template}: B's data in the answer: {found}")
    if not allowed_too:
        return
    for caller in CALLERS:
        expected = op.expect[caller]
        if expected is None or expected >= 400:
            continue
        reply = send(tally, call, method, path, tokens[caller], body)
        ok = 200 <= reply.status < 300
        if not strict and not ok and reply.status in (409, 422) and is_envelope(reply):
            ok = reply.body["error"]["code"] not in ("invalid_input", "forbidden", "not_found")
        tally.expect(
            ok, f"{caller} {method} {template}: expected {expected}, got {reply.status} {text_of(reply)[:160]}"
        )


def attack_roles(
    tally: Tally, call: Call, key: tuple[str, str], tokens: dict[str, str], refs: Refs, *, strict: bool = True
) -> None:
    method, template = key
    op = OPERATIONS[key]
    body = op.body(refs) if op.body else None
    for role in ROLES:
        expected = op.expect[role]
        if expected is None:
            continue
        reply = send(tally, call, method, op.target(template, refs), tokens[role], body)
        if expected >= 400:
            ok = reply.status == expected and is_envelope(reply, "forbidden")
        else:
            ok = reply.status == expected or (not strict and 200 <= reply.status < 300)
        tally.expect(ok, f"{role} {method} {template}: expected {expected}, got {reply.status} {text_of(reply)[:160]}")


def attack_anonymous(tally: Tally, call: Call, refs: Refs) -> None:
    """No token, every operation but the public ones: 401 in the envelope with WWW-Authenticate."""
    for (method, template), op in OPERATIONS.items():
        if op.kind == "public":
            continue
        path = fill(template, refs) or PREFIX + PATH_PARAM.sub(str(uuid.uuid4()), template)
        path += op.query(refs) if op.query else ""
        reply = send(tally, call, method, path, None, {} if method == "POST" else None)
        tally.expect(
            reply.status == 401 and is_envelope(reply, "unauthorized") and "www-authenticate" in reply.headers,
            f"anonymous {method} {template}: expected 401, got {reply.status}",
        )


def list_probes(refs: Refs, agent_b_id: str, today: date) -> list[tuple[str, str]]:
    """(caller, path) pairs whose answers must hold none of B's data."""
    window = f"from={(today - timedelta(days=200)).isoformat()}&to={today.isoformat()}"
    probes = [
        ("stranger_client", "/credits?limit=100"),
        ("stranger_client", f"/credits?limit=100&user={refs.user_id}"),
        ("stranger_client", f"/transactions?limit=100&{window}"),
        ("stranger_client", f"/transactions?limit=100&{window}&credit={refs.credit_id}"),
        ("stranger_client", "/me"),
        ("stranger_client", "/me/credit-summary"),
        ("stranger_agent", "/credits?limit=100"),
        ("stranger_agent", f"/credits?limit=100&user={refs.user_id}"),
        ("stranger_agent", f"/transactions?limit=100&{window}"),
        ("stranger_agent", f"/transactions?limit=100&{window}&credit={refs.credit_id}"),
        ("stranger_agent", "/me/credit-summary"),
        # B is in agent B's portfolio only: agent A's client list (whole, or searched) never holds B.
        ("stranger_agent", "/clients?limit=100"),
        ("stranger_agent", "/clients?limit=100&search=bola"),
    ]
    probes += [("stranger_agent", f"/collections/{kind}?limit=100") for kind in ("due-today", "due-tomorrow")]
    probes += [("stranger_agent", f"/collections/{kind}?limit=100") for kind in ("overdue", "portfolio")]
    return probes


def attack_lists(
    tally: Tally,
    call: Call,
    tokens: dict[str, str],
    refs: Refs,
    markers: set[str],
    agent_b_id: str,
    today: date,
    own_credit_of_a: str,
) -> None:
    for caller, path in list_probes(refs, agent_b_id, today):
        reply = send(tally, call, "GET", PREFIX + path, tokens[caller], None)
        tally.expect(reply.status == 200, f"{caller} GET {path}: expected 200, got {reply.status}")
        found = leaks(reply, markers, "")
        tally.expect(not found, f"{caller} GET {path}: B's data in a list: {found}")
    # Control: the same list does hold the caller's own credit (the filter is not simply empty).
    own = send(tally, call, "GET", PREFIX + "/credits?limit=100", tokens["stranger_client"], None)
    tally.expect(own_credit_of_a in text_of(own), "client A's own credit is in its list (control)")
    # Another agent's work lists are refused, not silently replaced by one's own.
    for kind in ("due-today", "overdue", "portfolio"):
        reply = send(
            tally, call, "GET", f"{PREFIX}/collections/{kind}?agent={agent_b_id}", tokens["stranger_agent"], None
        )
        tally.expect(
            reply.status == 403 and is_envelope(reply, "forbidden") and not leaks(reply, markers, ""),
            f"agent A asks for agent B's {kind}: expected 403, got {reply.status}",
        )


# --- tokens ------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any], alg: str) -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def forged_tokens(good: str) -> dict[str, str]:
    """Attacks built from a real token without our key: what an attacker holding one can try."""
    import hashlib
    import hmac

    claims = _claims_of(good)
    escalated = {**claims, "role": "admin"}
    header, payload, signature = good.split(".")
    now = int(time.time())
    forged: dict[str, str] = {
        "alg none": _unsigned(escalated, "none"),
        "alg None": _unsigned(escalated, "None"),
        "alg NONE": _unsigned(escalated, "NONE"),
        "tampered payload (role admin)": f"{header}.{_b64(json.dumps(escalated).encode())}.{signature}",
        "signature stripped": f"{header}.{payload}.",
        "truncated": good[: len(good) // 2],
        "garbage": "not.a.jwt",
    }
    # HS/RS confusion: signed HS256 with a public value an attacker could know (the token's own header).
    for name, key in (("hs256 with empty key", b""), ("hs256 with a guessable key", b"secret")):
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(escalated).encode())
        sig = _b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        forged[name] = f"{head}.{body}.{sig}"
    try:  # RS256 with the attacker's own key (pyjwt and cryptography are in the venv)
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged["RS256 with the attacker's key"] = jwt.encode(escalated, private, algorithm="RS256")
        forged["exp extended, signature kept"] = (
            f"{header}.{_b64(json.dumps({**claims, 'exp': now + 3600}).encode())}.{signature}"
        )
    except ImportError:  # pragma: no cover - the venv has both
        pass
    return forged


def attack_tokens(tally: Tally, call: Call, token: str, refresh: Callable[[], dict[str, Any]]) -> None:
    for name, forged in forged_tokens(token).items():
        reply = send(tally, call, "GET", PREFIX + "/me", forged, None)
        tally.expect(
            reply.status == 401 and is_envelope(reply, "unauthorized"),
            f"forged token ({name}): expected 401, got {reply.status}",
        )
    # Refresh-token reuse: the spent token is refused and the whole family goes, newest included.
    first = refresh()
    rotated = send(tally, call, "POST", PREFIX + "/auth/refresh", None, {"refresh_token": first["refresh_token"]})
    tally.expect(rotated.status == 200, f"refresh rotates: got {rotated.status}")
    newest = rotated.body.get("refresh_token", "") if isinstance(rotated.body, dict) else ""
    reuse = send(tally, call, "POST", PREFIX + "/auth/refresh", None, {"refresh_token": first["refresh_token"]})
    tally.expect(
        reuse.status == 401 and is_envelope(reuse, "unauthorized"),
        f"a spent refresh token is refused: got {reuse.status}",
    )
    after = send(tally, call, "POST", PREFIX + "/auth/refresh", None, {"refresh_token": newest})
    tally.expect(after.status == 401, f"after reuse the newest refresh token of the family is dead: got {after.status}")
    # An access token is not a refresh token and the other way round.
    as_refresh = send(tally, call, "POST", PREFIX + "/auth/refresh", None, {"refresh_token": token})
    tally.expect(as_refresh.status in (401, 422), f"an access token used to refresh: got {as_refresh.status}")
    as_access = send(tally, call, "GET", PREFIX + "/me", first["refresh_token"], None)
    tally.expect(as_access.status == 401, f"a refresh token used as a bearer: got {as_access.status}")


# --- brute force and enumeration --------------------------------------------------------------------


def login(call: Call, username: str, password: str) -> Reply:
    return call("POST", PREFIX + "/auth/token", None, {"username": username, "password": password}, None)


def brute_force(
    tally: Tally, call: Call, username: str, limit_hint: int = 50, reset: Callable[[], None] | None = None
) -> int:
    """Wrong passwords for one username until a 429; returns the attempts it took (0: never)."""
    for attempt in range(1, limit_hint + 1):
        reply = login(call, username, f"wrong-{attempt}")
        tally.requests += 1
        check_headers(tally, reply, PREFIX + "/auth/token")
        if reply.status == 429:
            retry = reply.headers.get("retry-after", "")
            tally.expect(retry.isdigit() and int(retry) >= 1, f"429 carries Retry-After (got {retry!r})")
            tally.expect(is_envelope(reply, "throttled"), "429 in the envelope, code throttled")
            return attempt
        if reply.status >= 500:
            tally.errors_5xx += 1
    tally.expect(False, f"no 429 after {limit_hint} wrong passwords for {username}")
    return 0


def enumeration(
    tally: Tally, call: Call, known: str, tries: int = 20, reset: Callable[[], None] | None = None
) -> tuple[float, float]:
    """Median seconds for an unknown username vs a known one with a wrong password, interleaved;
    the answers must be identical. `reset` clears the throttle counters between batches."""
    unknown_times: list[float] = []
    known_times: list[float] = []
    bodies: set[str] = set()
    statuses: set[int] = set()
    for n in range(tries):
        if reset is not None and n % 4 == 0:
            reset()
        for name, sink in ((f"nobody-{uuid.uuid4().hex[:8]}", unknown_times), (known, known_times)):
            started = time.perf_counter()
            reply = login(call, name, f"wrong-password-{n}")
            sink.append(time.perf_counter() - started)
            tally.requests += 1
            statuses.add(reply.status)
            bodies.add(text_of(reply))
    tally.expect(statuses == {401}, f"unknown user and wrong password both 401 (got {sorted(statuses)})")
    tally.expect(len(bodies) == 1, f"one body for unknown user and wrong password (got {len(bodies)} different)")
    unknown, known_median = statistics.median(unknown_times), statistics.median(known_times)
    ratio = unknown / known_median if known_median else 0.0
    tally.expect(0.5 <= ratio <= 2.0, f"timing: unknown/known median ratio {ratio:.2f} within 0.5..2")
    return unknown, known_median


# --- run(ctx) over HTTP -------------------------------------------------------------------------------


def _redis_reset(ctx: Context) -> Callable[[], None] | None:
    """Clears the stack's login throttle counters: every request here comes from one address, and
    later scenarios must still log in. Only the throttle's own keys are touched."""
    url = ctx.manage_env.get("REDIS_URL") if hasattr(ctx, "manage_env") else None
    url = url or os.environ.get("STRESS_REDIS_URL")
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)

    def reset() -> None:
        keys = list(client.scan_iter(match="*login:*", count=500))
        if keys:
            client.delete(*keys)

    return reset


def run(ctx: Context) -> list[Result]:  # pragma: no cover - exercised by `make stress`
    from stress.client import Api

    api = Api(ctx.base_url)

    def call(method: str, path: str, token: str | None, body: Any, headers: dict[str, str] | None) -> Reply:
        return api.call(method, path, token=token, body=body, headers=headers)

    reset = _redis_reset(ctx)
    if reset:
        reset()
    tokens_of = {name: api.login(name, ctx.password) for name in (ctx.admin, *ctx.agents, *ctx.clients)}
    admin = tokens_of[ctx.admin]
    me = {name: api.get(PREFIX + "/me", tokens_of[name]).body["id"] for name in tokens_of}
    agent_a, agent_b = ctx.agents[0], ctx.agents[1]
    client_a = ctx.clients[0]
    # Client B is new: a demo client may hold credits in both agents' portfolios, and then agent A
    # rightly sees it. B's credits are all in agent B's portfolio.
    client_b = f"bola-b-{uuid.uuid4().hex[:8]}"
    b_password = f"Bola-{uuid.uuid4().hex}"
    created = api.post(PREFIX + "/clients", {"username": client_b, "password": b_password, "role": "client"}, admin)
    if created.status != 201:
        raise RuntimeError(f"could not create client B: {created.status} {created.body}")
    tokens_of[client_b] = api.login(client_b, b_password)
    me[client_b] = str(created.body["id"])
    accounts = api.get(PREFIX + "/payment-accounts?limit=100", admin).body["data"]
    results: list[Result] = []

    def fresh_credit() -> tuple[Refs, set[str]]:
        """A credit of client B in agent B's portfolio, opened by the admin, with one payment."""
        currency = "COP"
        account = next(a["id"] for a in accounts if a["currency"] == currency and a.get("active", True))
        opened = api.post(
            PREFIX + "/credits",
            {
                "client_id": me[client_b],
                "agent_id": me[agent_b],
                "price": {"amount": "7345.67", "currency": currency},
                "cost": {"amount": "5000.00", "currency": currency},
                "periodicity": "monthly",
                "installments": 6,
                "first_due_date": _soon(),
                "interest_method": "zero_interest",
                "annual_rate": "0",
            },
            admin,
            key=uuid.uuid4().hex,
        ).body
        paid = api.post(
            f"{PREFIX}/credits/{opened['id']}/payments",
            {
                "amount": {"amount": "12.34", "currency": currency},
                "lines": [{"payment_account_id": account, "amount": {"amount": "12.34", "currency": currency}}],
            },
            tokens_of[agent_b],
            key=uuid.uuid4().hex,
        ).body
        refs = Refs(
            credit_id=opened["id"],
            payment_id=paid["id"],
            installment_id=opened["installments"][0]["id"],
            waiver_id=None,
            user_id=me[client_b],
            job_id=job_id,
            currency=currency,
            account_id=account,
            client_a_id=me[client_a],
            client_b_username=client_b,
        )
        markers = {opened["id"], paid["id"], me[client_b], client_b, *(i["id"] for i in opened["installments"])}
        markers.add(paid["transaction_id"])
        return refs, markers

    job = api.post(PREFIX + "/jobs/portfolio-analysis", {}, admin)
    job_id = job.body.get("id") if isinstance(job.body, dict) else None
    tokens = {
        "stranger_client": tokens_of[client_a],
        "stranger_agent": tokens_of[agent_a],
        "owner": tokens_of[client_b],
        "owner_agent": tokens_of[agent_b],
        "admin": admin,
        "client": tokens_of[client_a],
        "agent": tokens_of[agent_a],
    }

    # 1. BOLA: each resource operation on a credit of its own (the allowed calls change it).
    bola = Tally()
    for key, op in OPERATIONS.items():
        if op.kind != "resource":
            continue
        refs, markers = fresh_credit()
        attack_resource(bola, call, key, tokens, refs, markers, strict=False)
    refs, markers = fresh_credit()
    for key, op in OPERATIONS.items():
        if op.kind == "role":
            attack_roles(bola, call, key, tokens, refs, strict=False)
    attack_anonymous(bola, call, refs)
    own_a = api.get(PREFIX + "/credits?limit=1", tokens_of[client_a]).body["data"]
    attack_lists(
        bola,
        call,
        tokens,
        refs,
        markers,
        me[agent_b],
        _today(),
        own_a[0]["id"] if own_a else "(none)",
    )
    ops = sum(1 for op in OPERATIONS.values() if op.kind != "public")
    results.append(
        bola.into(
            Result(
                SECTION,
                f"BOLA: {ops} operations x client A / another portfolio's agent / owner / admin; lists; anonymous",
                details=[
                    f"operations classified: {len(OPERATIONS)}; headers checked on {bola.headers_checked} answers"
                ],
            )
        )
    )

    # 2. Tokens.
    tok = Tally()

    def new_session() -> dict[str, Any]:
        reply = login(call, client_a, ctx.password)
        tok.requests += 1
        return dict(reply.body)

    attack_tokens(tok, call, tokens_of[client_a], new_session)
    results.append(
        tok.into(
            Result(
                SECTION,
                "JWT attacks (alg none x3, tampered, stripped, HS/RS confusion, weak keys) and refresh-token reuse",
                details=[f"forged tokens tried: {len(forged_tokens(tokens_of[client_a]))}"],
            )
        )
    )

    # 3. Brute force and enumeration (throttle counters cleared around it: one source address).
    brute = Tally()
    victim = f"victim-{uuid.uuid4().hex[:8]}"
    attempts = brute_force(brute, call, client_a if reset else victim)
    if reset:
        reset()
    unknown, known = enumeration(brute, call, client_a, tries=20, reset=reset)
    if reset:
        reset()
    else:
        brute.lines.append("no Redis URL: throttle counters not cleared (later logins from here may be throttled)")
    # The legitimate user still gets in once the window is cleared.
    tokens_after = login(call, client_a, ctx.password)
    brute.requests += 1
    brute.expect(tokens_after.status == 200, f"the real user logs in after the attack: {tokens_after.status}")
    results.append(
        brute.into(
            Result(
                SECTION,
                "Login brute force and user enumeration",
                details=[
                    f"429 reached after {attempts} wrong passwords for one username",
                    f"median login time: unknown user {unknown * 1000:.1f} ms, known user/wrong password "
                    f"{known * 1000:.1f} ms (ratio {unknown / known if known else 0:.2f})",
                ],
            )
        )
    )

    # 4. Headers on pages outside the API.
    head = Tally()
    for path in ("/metrics", "/admin/login/", PREFIX + "/docs", PREFIX + "/openapi.json", "/nothing-here"):
        send(head, call, "GET", path, None, None)
    results.append(
        head.into(
            Result(
                SECTION,
                "Security headers on /metrics, admin, docs, OpenAPI, unknown paths",
                fixed=[
                    "no Content-Security-Policy anywhere: now 'none' for API JSON, 'self' for the admin, and the "
                    "docs page's own (Swagger's CDN, its inline script by hash) (api/middleware.py)",
                    "API answers, tokens included, carried no Cache-Control: now no-store",
                    "static files (WhiteNoise) had no X-Frame-Options",
                    "a 500's envelope had no request id to quote: now in details.request_id",
                ],
            )
        )
    )
    if reset:
        reset()
    return results
