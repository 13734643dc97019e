"""`make bench`: moroccron beside a peer, in the same run, on the same machine; one table.

Each module under bench/ measures one thing and returns rows (see bench/common.py):

- skew.py       launch skew, 1,000 and 10,000 jobs due in one second, beside APScheduler 3
- idle.py       CPU and memory with 10,000 and 100,000 idle jobs, beside APScheduler 3
- api.py        create, list and search 10,000 jobs, native and Chronos API, SQLite and PostgreSQL
- packing.py    offer rounds for a burst of mixed tasks, against the lower bound
- failover.py   SIGTERM and SIGKILL of the leader to the next leader's first launch, with and without ZooKeeper
- ui_render.py  server render time of the UI pages with 10,000 jobs
- auth_load.py  /healthz and an authenticated list while 50 junk tokens a second arrive
- cron_parse.py 100,000 distinct cron expressions parsed and first fires computed, beside croniter

``bench/run.py [--quick] [NAME ...]`` runs all of them, or the ones named. A module that
fails shows its error in the table and makes the exit status 1.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table  # noqa: E402

MODULES = ("skew", "idle", "api", "packing", "failover", "ui_render", "auth_load", "cron_parse")


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    wanted = [a for a in argv if not a.startswith("--")] or list(MODULES)
    unknown = [w for w in wanted if w not in MODULES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    rows: list[tuple[str, ...]] = []
    failed = False
    for name in wanted:
        start = time.monotonic()
        print(f"running bench/{name}.py{' (quick)' if quick else ''} ...", file=sys.stderr, flush=True)
        try:
            rows.extend(importlib.import_module(f"bench.{name}").main(quick=quick))
        except Exception as exc:
            traceback.print_exc()
            rows.append((name, "FAILED", "", "", "", f"{type(exc).__name__}: {exc}"[:200]))
            failed = True
        print(f"  bench/{name}.py took {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    print()
    print_table(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
