"""Packing: a burst of mixed-size tasks against a fixed set of agents.

Each offer round, every agent offers all it has (the tasks of the previous round
have finished: a round is one task lifetime). A strategy places what it can; the rest
waits for the next round. Measured per strategy: rounds until every task ran, the
share of the cluster used in the full rounds, and the time the strategy took.

Peers: the lower bound, ceil(total demand / cluster capacity) of the dominant
resource (no strategy can do better), and one task per offer, which is how Chronos
launched (one task per offer per round).

Run alone: ``.venv/bin/python bench/packing.py [--quick]``.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, value_row  # noqa: E402
from moroccron.hooks.types import Offer, PackingPlan, PendingTask  # noqa: E402
from moroccron.model import Resources, Run, RunState  # noqa: E402
from moroccron.packing import best_fit_decreasing, first_fit  # noqa: E402

AGENTS = 20
AGENT = Resources.unchecked(16.0, 32768.0, 100_000.0, 0.0)
SIZES = [(0.1, 64), (0.25, 256), (0.5, 512), (1.0, 1024), (2.0, 2048), (4.0, 8192), (0.5, 6144), (3.0, 1024)]
"""(cpus, MB) of the task kinds: small cron scripts to big batch jobs, some memory-heavy, some CPU-heavy."""
AWKWARD = [(9.0, 9000), (7.0, 7000), (5.0, 14000), (4.0, 4000), (2.0, 18000), (6.0, 12000)]
"""Big tasks, a few per agent, whose sizes do not add up to an agent: order matters."""


def one_per_offer(tasks: Sequence[PendingTask], offers: Sequence[Offer], jobs: object) -> PackingPlan:
    """The Chronos way: the first waiting task that fits goes on each offer, one per offer."""
    assignments: dict[str, tuple[str, ...]] = {}
    waiting = list(tasks)
    for offer in offers:
        for i, task in enumerate(waiting):
            if task.resources.fits_in(offer.resources):
                assignments[offer.id] = (task.task_id,)
                del waiting[i]
                break
    return PackingPlan(assignments, tuple(t.task_id for t in waiting))


def burst(n: int, sizes: Sequence[tuple[float, int]] = SIZES, seed: int = 11) -> list[PendingTask]:
    rng = random.Random(seed)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    tasks = []
    for i in range(n):
        cpus, mem = rng.choice(sizes)
        run = Run(job=f"job-{i}", scheduled_at=at, state=RunState.QUEUED)
        tasks.append(PendingTask(run, Resources.unchecked(cpus, float(mem), 10.0, 0.0)))
    return tasks


def lower_bound(tasks: Sequence[PendingTask]) -> int:
    cpus = sum(t.resources.cpus for t in tasks) / (AGENT.cpus * AGENTS)
    mem = sum(t.resources.mem for t in tasks) / (AGENT.mem * AGENTS)
    return math.ceil(max(cpus, mem))


def simulate(strategy: Callable[..., PackingPlan], tasks: Sequence[PendingTask]) -> tuple[int, float, float]:
    """(rounds, mean dominant share used in all but the last round, seconds spent packing)."""
    waiting = list(tasks)
    by_id = {t.task_id: t for t in tasks}
    rounds, used, spent = 0, [], 0.0
    while waiting:
        rounds += 1
        offers = [
            Offer(id=f"o{rounds}-{a}", agent_id=f"a{a}", hostname=f"agent{a}", resources=AGENT) for a in range(AGENTS)
        ]
        start = time.perf_counter()
        plan = strategy(waiting, offers, {})
        spent += time.perf_counter() - start
        placed = {t for ids in plan.assignments.values() for t in ids}
        if not placed:
            raise RuntimeError(f"{strategy.__name__} placed nothing in round {rounds}")
        cpus = sum(by_id[t].resources.cpus for t in placed) / (AGENT.cpus * AGENTS)
        mem = sum(by_id[t].resources.mem for t in placed) / (AGENT.mem * AGENTS)
        used.append(max(cpus, mem))
        waiting = [t for t in waiting if t.task_id not in placed]
    full = used[:-1] or used
    return rounds, sum(full) / len(full), spent


def main(quick: bool = False) -> list[tuple[str, ...]]:
    rows = []
    cases = (
        [(500, "mixed", SIZES), (200, "big, awkward", AWKWARD)]
        if quick
        else [(1000, "mixed", SIZES), (5000, "mixed", SIZES), (1000, "big, awkward", AWKWARD)]
    )
    for n, kind, sizes in cases:
        tasks = burst(n, sizes)
        name = f"packing {n} {kind} tasks on {AGENTS} agents of 16 cpus / 32 GiB"
        rows.append(value_row(name, "lower bound: ceil(demand / capacity)", f"{lower_bound(tasks)} rounds"))
        for who, fn in (
            ("moroccron first-fit", first_fit),
            ("moroccron best-fit-decreasing", best_fit_decreasing),
            ("peer: one task per offer (Chronos)", one_per_offer),
        ):
            rounds, used, spent = simulate(fn, tasks)
            rows.append(
                value_row(
                    name,
                    who,
                    f"{rounds} rounds",
                    f"{used:.0%} of the cluster used per full round; packing took {spent * 1000:.0f} ms",
                )
            )
    return rows


if __name__ == "__main__":
    print_table(main(quick="--quick" in sys.argv))
