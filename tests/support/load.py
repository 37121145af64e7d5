"""A bounded load on the app (127.0.0.1 only): writer threads POST items, reader threads GET them,
until stopped or until `limit` seconds have passed (it stops by itself). Every response is
classified: a 201 is an acknowledged write whose id must be in the database afterwards; a 5xx, an
unexpected status or a connection error is a failure, recorded with when it happened."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from support import hostkit


@dataclass
class Failure:
    at: float
    method: str
    what: str


@dataclass
class Load:
    url: str
    writers: int = 2
    readers: int = 2
    limit: float = 180
    # Each thread's pause between requests: 0.025 s makes about 140 requests a second on this machine
    # (0.01 s: 310, for twice the CPU, half a core, taken from the very tests that run under load).
    pause: float = 0.025
    headers: dict[str, str] = field(default_factory=dict)
    # The item readers GET: one that must exist throughout (the first acknowledged write when None;
    # a restore or a rollback with its database takes back what was written since its backup).
    read_id: str | None = None
    acknowledged: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    requests_sent: int = 0
    slowest: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._prefix = f"load-{uuid.uuid4().hex[:6]}"
        self._count = 0
        self._started = 0.0

    def __enter__(self) -> Load:
        self.headers = self.headers or hostkit.auth_headers(self.url)  # writes need the app's token
        self._started = time.monotonic()
        for role, count in (("write", self.writers), ("read", self.readers)):
            for _ in range(count):
                thread = threading.Thread(target=self._loop, args=(role,), daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _name(self) -> str:
        with self._lock:
            self._count += 1
            return f"{self._prefix}-{self._count}"

    def _loop(self, role: str) -> None:
        session = requests.Session()
        session.headers.update(self.headers)
        deadline = self._started + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            began = time.monotonic()
            try:
                ok, what = self._one(session, role)
            except requests.RequestException as exc:
                ok, what = False, f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                ok, what = False, f"load generator error {type(exc).__name__}: {exc}"
            elapsed = time.monotonic() - began
            with self._lock:
                self.requests_sent += 1
                self.slowest = max(self.slowest, elapsed)
                if not ok:
                    self.failures.append(Failure(began - self._started, role, what))
            time.sleep(self.pause)

    def _one(self, session: requests.Session, role: str) -> tuple[bool, str]:
        if role == "write":
            name = self._name()
            response = session.post(
                f"{self.url}/api/items", json={"name": name, "data": {"n": 1}}, timeout=45
            )
            ok = response.status_code == 201
            if ok:
                with self._lock:
                    self.acknowledged[response.json()["id"]] = name
        else:
            with self._lock:
                known = self.read_id or next(iter(self.acknowledged), None)
            path = f"/api/items/{known}" if known else "/health"
            response = session.get(f"{self.url}{path}", timeout=45)
            ok = response.status_code == 200
        return ok, f"HTTP {response.status_code}: {response.text[:200]}"

    def report(self) -> str:
        return (
            f"{self.requests_sent} requests, {len(self.acknowledged)} writes acknowledged, "
            f"{len(self.failures)} failed, slowest {self.slowest:.2f}s; first failures: {self.failures[:5]}"
        )
