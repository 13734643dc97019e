"""Parsing 100,000 distinct cron expressions and computing each one's first fire time:
moroccron (``parse_schedule`` + ``next_after``) beside croniter (``croniter(...)`` +
``get_next``), in the same run, on the same expressions.

The expressions are distinct, so moroccron's caches of parsed schedules cannot answer
from memory (they are emptied first); fields repeat between expressions, as they do in
real crontabs, and moroccron shares parsed fields between schedules.
"""

from __future__ import annotations

import gc
import random
import time
from datetime import UTC, datetime

from bench.common import value_row

COUNT, QUICK_COUNT = 100_000, 20_000
NOW = datetime(2026, 3, 1, 12, 34, 56, tzinfo=UTC)


def _field(rng: random.Random, low: int, high: int) -> str:
    kind = rng.randrange(6)
    a, b = sorted(rng.sample(range(low, high + 1), 2))
    if kind == 0:
        return "*"
    if kind == 1:
        return str(a)
    if kind == 2:
        return f"{a}-{b}"
    if kind == 3:
        return f"*/{rng.randint(2, max(2, (high - low) // 2))}"
    if kind == 4:
        return f"{a},{b}"
    return f"{a}-{b}/{rng.randint(2, 5)}"


def expressions(count: int, seed: int = 17) -> list[str]:
    """``count`` distinct 5-field expressions that can fire (days of month 1-28)."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        expr = " ".join(
            (_field(rng, 0, 59), _field(rng, 0, 23), _field(rng, 1, 28), _field(rng, 1, 12), _field(rng, 0, 6))
        )
        found[expr] = None
    return list(found)


def _moroccron(exprs: list[str]) -> float:
    from moroccron import schedule
    from moroccron.schedule import cron, parse

    for cached in (parse._parse_cached, cron._parse, cron._plain_field, cron._dom_field, cron._dow_field):
        cached.cache_clear()
    gc.collect()
    start = time.perf_counter()
    for expr in exprs:
        schedule.parse_schedule(expr, "UTC").next_after(NOW)
    return time.perf_counter() - start


def _croniter(exprs: list[str]) -> float:
    from croniter import croniter

    gc.collect()
    start = time.perf_counter()
    for expr in exprs:
        croniter(expr, NOW).get_next(datetime)
    return time.perf_counter() - start


def main(quick: bool = False) -> list[tuple[str, ...]]:
    exprs = expressions(QUICK_COUNT if quick else COUNT)
    theirs = _croniter(exprs)
    ours = _moroccron(exprs)
    name = f"cron parse + first fire, {len(exprs):,} distinct"
    return [
        value_row(
            name,
            "moroccron",
            f"{ours:.2f} s",
            f"{ours / len(exprs) * 1e6:.0f} µs each; {theirs / ours:.1f}x croniter's speed",
        ),
        value_row(name, "croniter", f"{theirs:.2f} s", f"{theirs / len(exprs) * 1e6:.0f} µs each"),
    ]


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import print_table

    print_table(main(quick="--quick" in sys.argv))
