"""What every benchmark module shares: percentiles, rows of the one table, free ports.

Each module under bench/ has ``main(quick: bool = False) -> list[tuple[str, ...]]``
returning rows of (benchmark, who, p50, p99, max, note); bench/run.py prints them
as one table. Latencies are given in seconds and shown in milliseconds.
"""

from __future__ import annotations

import socket
import statistics
from collections.abc import Sequence

HEADER = ("benchmark", "who", "p50", "p99", "max", "note")


def pct(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def latency_row(benchmark: str, who: str, latencies: Sequence[float], extra: str = "") -> tuple[str, ...]:
    """One row from latencies in seconds: p50, p99 and max in milliseconds."""
    if not latencies:
        return (benchmark, who, "-", "-", "-", extra or "no samples")
    return (benchmark, who, ms(statistics.median(latencies)), ms(pct(latencies, 99)), ms(max(latencies)), extra)


def value_row(benchmark: str, who: str, value: str, note: str = "") -> tuple[str, ...]:
    """A row for a figure that is not a latency distribution (CPU seconds, rounds, MB)."""
    return (benchmark, who, value, "", "", note)


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> None:
    table = [tuple(header), *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
