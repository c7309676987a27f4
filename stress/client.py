"""A small thread-safe HTTP client for the scenarios (the standard library's http.client: no extra
dependency), counting every request and every answer >= 500 or transport error."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Answer:
    status: int  # 0: no answer (connection refused, reset, timeout)
    body: Any  # parsed JSON, else the text, else None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def failed(self) -> bool:
        """A server failure: a 5xx or no answer at all."""
        return self.status == 0 or self.status >= 500


class Api:
    def __init__(self, base_url: str, timeout: float = 30) -> None:
        parsed = urlparse(base_url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self.requests = 0
        self.failures = 0
        self.statuses: dict[int, int] = {}

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = {"Accept": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        started = time.perf_counter()
        answer: Answer
        try:
            conn = self._conn()
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            text = raw.decode("utf-8", errors="replace")
            try:
                parsed: Any = json.loads(text) if text else None
            except ValueError:
                parsed = text
            answer = Answer(response.status, parsed, {k.lower(): v for k, v in response.getheaders()})
            if response.getheader("Connection", "").lower() == "close":
                self._drop()
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            answer = Answer(0, None, error=f"{type(exc).__name__}: {exc}")
        answer.seconds = time.perf_counter() - started
        with self._lock:
            self.requests += 1
            self.failures += answer.failed
            self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
        return answer

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def get(self, path: str, token: str | None = None) -> Answer:
        return self.call("GET", path, token=token)

    def post(self, path: str, body: Any, token: str | None = None, key: str | None = None) -> Answer:
        return self.call("POST", path, token=token, body=body, headers={"Idempotency-Key": key} if key else None)

    def login(self, username: str, password: str, attempts: int = 20) -> str:
        """An access token; retries while the stack is recovering (a fault scenario may call it then)."""
        last: Answer | None = None
        for _ in range(attempts):
            last = self.post("/api/v1/auth/token", {"username": username, "password": password})
            if last.status == 200:
                return str(last.body["access_token"])
            if last.status in (400, 401, 403, 422):
                break
            time.sleep(0.5)
        raise RuntimeError(f"login as {username} failed: {last}")

    def status_line(self) -> str:
        return ", ".join(f"{code or 'no answer'}: {n}" for code, n in sorted(self.statuses.items()))


def parallel(items: Iterable[T], work: Callable[[T], R], threads: int) -> list[R]:
    """`work` over `items` on a pool of threads that start together (all wait for one signal, given once
    every item is queued), results in order."""
    go = threading.Event()

    def run(item: T) -> R:
        go.wait(30)
        return work(item)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(run, item) for item in items]
        time.sleep(0.05)  # let the pool's threads reach the gate
        go.set()
        return [f.result() for f in futures]
