"""Auth under a junk-token flood: /healthz and an authenticated list while 50 junk tokens a second arrive.

A real ``moroccron serve`` process (SQLite, its in-process local Mesos master, 100 jobs,
authentication on) is measured from this process: one client asks ``/healthz`` and
another ``GET /api/v1/jobs?limit=50`` with a valid token, each about 10 times a second,
from 127.0.0.2; meanwhile 50 requests a second with a random bearer token come from
127.0.0.1 (the server sees two client addresses, so the flood's rate limit is the
flood's alone). Each scenario runs ~20 s (5 s with --quick):

- ``no junk``: the reference;
- ``junk, defaults``: the rate limit answers the flood 429 after 10 failures;
- ``junk, no rate limit``: every junk token is looked up (one SHA-256 and a dict miss);
- ``junk, no rate limit, old pbkdf2 token``: the worst case kept for compatibility: a
  token stored as ``pbkdf2_sha256$`` makes every junk token cost one PBKDF2, run in the
  authenticator's worker threads (a bounded queue; beyond it 503).

The target is p99 under 100 ms for both measured calls in every scenario. Before this
change the same flood at ~15 requests a second made calls take seconds (PBKDF2 per
stored token on the event loop).

Run alone: ``.venv/bin/python bench/auth_load.py [--quick]``.
"""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import free_port, latency_row, print_table  # noqa: E402
from tests.servers import stop_process  # noqa: E402

TARGET = 0.100  # seconds, p99
JUNK_PER_SECOND = 50
MEASURE_PER_SECOND = 10
CLIENT_ADDRESS = "127.0.0.2"  # the measured clients; the flood comes from 127.0.0.1


def _serve(work: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(
        os.environ,
        MOROCCRON_LOCAL_WORK_DIR=str(work / "mesos"),
        MOROCCRON_JOB_POLL_SECONDS="0",
        MOROCCRON_LOG_LEVEL="WARNING",
        **env_extra,
    )
    log = open(work / "serve.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moroccron.cli",
            "serve",
            "--db",
            f"sqlite:///{work / 'bench.db'}",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _ = _get(port, "/healthz", None, "127.0.0.1")
            if status == 200:
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"moroccron serve did not start; see {work / 'serve.log'}")
        time.sleep(0.2)


def _get(
    port: int, path: str, token: str | None, source: str, conn: http.client.HTTPConnection | None = None
) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def _paced(rate: float, until: float, action, threads: int = 1) -> None:
    """Call ``action()`` ``rate`` times a second until ``until``, from ``threads`` threads on one schedule."""
    lock = threading.Lock()
    state = {"next": time.monotonic()}

    def worker() -> None:
        while True:
            with lock:
                due = state["next"]
                state["next"] += 1 / rate
            if due > until:
                return
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:
                continue  # more than a second behind: drop it rather than send a burst later
            action()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(until - time.monotonic() + 60)


def scenario(
    name: str, work: Path, seconds: float, *, junk: bool, env_extra: dict[str, str], token: str
) -> list[tuple[str, ...]]:
    work.mkdir(parents=True)
    proc, port = _serve(work, env_extra)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.1", 0))
        for i in range(100):
            body = f'{{"name": "job-{i:03d}", "command": "true", "schedule": "0 3 * * *"}}'
            conn.request(
                "POST",
                "/api/v1/jobs",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                raise RuntimeError(f"creating jobs: {response.status}")
        conn.close()
        until = time.monotonic() + seconds
        results: dict[str, list[float]] = {"healthz": [], "list": []}
        errors: Counter[str] = Counter()
        junk_codes: Counter[int] = Counter()
        junk_sent: list[int] = []
        local = threading.local()

        def measured(kind: str, path: str, auth: str | None):
            def call() -> None:
                if not hasattr(local, "conn"):
                    local.conn = http.client.HTTPConnection(
                        "127.0.0.1", port, timeout=30, source_address=(CLIENT_ADDRESS, 0)
                    )
                start = time.perf_counter()
                try:
                    status, _ = _get(port, path, auth, CLIENT_ADDRESS, local.conn)
                except OSError as exc:
                    errors[f"{kind} {type(exc).__name__}"] += 1
                    del local.conn
                    return
                took = time.perf_counter() - start
                if status == 200:
                    results[kind].append(took)
                else:
                    errors[f"{kind} {status}"] += 1

            return call

        def flood() -> None:
            if time.monotonic() < until:
                junk_sent.append(1)
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.1", 0))
            try:
                status, _ = _get(port, "/api/v1/jobs", secrets.token_urlsafe(32), "127.0.0.1", local.conn)
            except OSError:
                local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.1", 0))
                status = 0
            junk_codes[status] += 1

        runners = [
            threading.Thread(target=_paced, args=(MEASURE_PER_SECOND, until, measured("healthz", "/healthz", None))),
            threading.Thread(
                target=_paced, args=(MEASURE_PER_SECOND, until, measured("list", "/api/v1/jobs?limit=50", token))
            ),
        ]
        if junk:
            # Enough threads that slow answers never hold the flood back (an attacker opens connections freely).
            runners.append(threading.Thread(target=_paced, args=(JUNK_PER_SECOND, until, flood, 64)))
        for t in runners:
            t.start()
        for t in runners:
            t.join()
    finally:
        stop_process(proc)
    answers = ", ".join(f"{code}x{n}" for code, n in sorted(junk_codes.items()))
    flood_note = f"junk {len(junk_sent) / seconds:.0f}/s sent: {answers}" if junk else "no junk"
    rows = []
    for kind, label in (("healthz", "GET /healthz"), ("list", "GET /api/v1/jobs, token")):
        values = results[kind]
        ok = bool(values) and sorted(values)[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))] < TARGET
        note = f"p99 < 100 ms: {'yes' if ok else 'NO'}; {flood_note}"
        if errors:
            note += "; errors " + ", ".join(f"{k}x{n}" for k, n in sorted(errors.items()))
        rows.append(latency_row(f"auth under junk tokens: {name}", label, values, note))
    return rows


def main(quick: bool = False) -> list[tuple[str, ...]]:
    from moroccron.auth import hash_secret, hash_token

    seconds = 5.0 if quick else 20.0
    token = secrets.token_urlsafe(32)
    fast = {"MOROCCRON_AUTH_TOKENS": f"{hash_token(token)}:write"}
    old = {"MOROCCRON_AUTH_TOKENS": f"{hash_token(token)}:write,{hash_secret(secrets.token_urlsafe(16))}:read"}
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="mcr-bench-auth-") as tmp:
        work = Path(tmp)
        rows += scenario("no junk", work / "a", seconds, junk=False, env_extra=fast, token=token)
        rows += scenario("junk, defaults", work / "b", seconds, junk=True, env_extra=fast, token=token)
        rows += scenario(
            "junk, no rate limit",
            work / "c",
            seconds,
            junk=True,
            env_extra={**fast, "MOROCCRON_AUTH_MAX_FAILURES": "0"},
            token=token,
        )
        rows += scenario(
            "junk, no rate limit, old pbkdf2 token",
            work / "d",
            seconds,
            junk=True,
            env_extra={**old, "MOROCCRON_AUTH_MAX_FAILURES": "0"},
            token=token,
        )
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv))
