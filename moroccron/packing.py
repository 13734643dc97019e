"""Built-in packing strategies: which queued tasks go on which offers.

Registered as a built-in plugin through ``moroccron_pack_offers``, so a third-party
strategy plugs in the same way. Both strategies place several tasks per offer and
honour cpus, mem, disk, gpus and the job's placement constraints:

- ``EQUALS`` / ``LIKE`` / ``UNLIKE``: the agent attribute (or ``hostname``) equals /
  fully matches / does not fully match the value. An agent without the attribute fails
  ``EQUALS`` and ``LIKE`` and passes ``UNLIKE``.
- ``UNIQUE``: at most one task of the job per distinct value of the field.
- ``GROUP_BY``: spread the job's tasks evenly over the field's values.

``UNIQUE`` and ``GROUP_BY`` count the tasks placed in the same round: scheduled jobs
rarely overlap themselves, and the offers of one round are what is known to be free.

Roles and reservations: a job with a ``role`` goes only on offers allocated to that
role, a job without one only on offers of the framework's default role
(:meth:`~moroccron.hooks.types.Offer.serves`). Within an offer a task may draw on every
pool (reserved for the offer's role, or unreserved), so what fits is decided on the
offer's total; which pool each part comes from is settled when the task is described
to Mesos (:mod:`moroccron.mesos.resources`).

GPUs: a task that needs none goes on an offer without GPUs when one fits, so that
agents with GPUs stay free for the jobs that need them (a master offers them only to
frameworks that registered GPU_RESOURCES, which moroccron does once a job asks).

Strategies:

- ``first-fit``: tasks in queue order (most urgent first), each on the first offer it
  fits. Fast, and keeps launch order.
- ``best-fit-decreasing``: biggest tasks first (by their dominant share of the round's
  resources), each on the offer it leaves the least room in. Fewer offers used for
  mixed sizes, at the cost of order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from moroccron.hooks import hookimpl
from moroccron.hooks.types import Offer, PackingPlan, PendingTask
from moroccron.model import Constraint, JobSpec, Resources

__all__ = ["STRATEGIES", "best_fit_decreasing", "first_fit", "satisfies"]


def _attribute(offer: Offer, name: str) -> str | None:
    if name == "hostname":
        return offer.hostname
    value = offer.attributes.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_regex_cache: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    compiled = _regex_cache.get(pattern)
    if compiled is None:
        compiled = _regex_cache[pattern] = re.compile(pattern)
    return compiled


class _Round:
    """Resources left on each offer, and what each job already placed, in one round."""

    def __init__(self, offers: Sequence[Offer]) -> None:
        self.free: dict[str, Resources] = {o.id: o.resources for o in offers}
        self.placed: dict[str, list[str]] = {o.id: [] for o in offers}
        self.values: dict[tuple[str, str], Counter[str]] = {}  # (job, field) -> value -> tasks placed

    def place(self, task: PendingTask, offer: Offer, job: JobSpec | None) -> None:
        self.free[offer.id] = self.free[offer.id] - task.resources
        self.placed[offer.id].append(task.task_id)
        for c in job.constraints if job else ():
            if c.operator in ("UNIQUE", "GROUP_BY"):
                value = _attribute(offer, c.field)
                if value is not None:
                    self.values.setdefault((task.job, c.field), Counter())[value] += 1

    def plan(self, unplaced: list[str]) -> PackingPlan:
        return PackingPlan({k: tuple(v) for k, v in self.placed.items() if v}, tuple(unplaced))


def satisfies(
    constraint: Constraint, offer: Offer, job: str, rnd: _Round | None = None, offers: Sequence[Offer] = ()
) -> bool:
    value = _attribute(offer, constraint.field)
    op = constraint.operator
    if op == "EQUALS":
        return value is not None and value == constraint.value
    if op == "LIKE":
        return value is not None and _regex(constraint.value or "").fullmatch(value) is not None
    if op == "UNLIKE":
        return value is None or _regex(constraint.value or "").fullmatch(value) is None
    counts = rnd.values.get((job, constraint.field), Counter()) if rnd else Counter()
    if op == "UNIQUE":
        return value is not None and counts[value] == 0
    if op == "GROUP_BY":
        if value is None:
            return False
        # Only place where the value has no more tasks than the least-used value offered.
        candidates = {v for o in offers if (v := _attribute(o, constraint.field)) is not None}
        least = min((counts[v] for v in candidates), default=0)
        return counts[value] <= least
    return False


def _fits(task: PendingTask, offer: Offer, job: JobSpec | None, rnd: _Round, offers: Sequence[Offer]) -> bool:
    if not task.resources.fits_in(rnd.free[offer.id]) or not offer.serves(job.role if job else None):
        return False
    return all(satisfies(c, offer, task.job, rnd, offers) for c in (job.constraints if job else ()))


def _gpu_last(offers: Sequence[Offer]) -> list[Offer]:
    """``offers``, those with GPUs after the others (a stable order otherwise)."""
    return sorted(offers, key=lambda o: o.resources.gpus > 0)


def first_fit(tasks: Sequence[PendingTask], offers: Sequence[Offer], jobs: Mapping[str, JobSpec]) -> PackingPlan:
    rnd = _Round(offers)
    unplaced = []
    for_plain = _gpu_last(offers)  # for tasks that need no GPU
    for task in tasks:
        job = jobs.get(task.job)
        for offer in offers if task.resources.gpus else for_plain:
            if _fits(task, offer, job, rnd, offers):
                rnd.place(task, offer, job)
                break
        else:
            unplaced.append(task.task_id)
    return rnd.plan(unplaced)


def _capacity(offers: Sequence[Offer]) -> Resources:
    totals = [sum(getattr(o.resources, name) for o in offers) or 1.0 for name in ("cpus", "mem", "disk", "gpus")]
    return Resources.unchecked(*totals)


def _share(r: Resources, cap: Resources) -> float:
    """Dominant resource share: the largest fraction of any one resource this needs."""
    return max(r.cpus / cap.cpus, r.mem / cap.mem, r.disk / cap.disk, r.gpus / cap.gpus)


def best_fit_decreasing(
    tasks: Sequence[PendingTask], offers: Sequence[Offer], jobs: Mapping[str, JobSpec]
) -> PackingPlan:
    rnd = _Round(offers)
    cap = _capacity(offers)
    unplaced = []

    # Stable sort: equal sizes keep their urgency order; high_priority jobs before all others.
    def order(t: PendingTask) -> tuple[bool, float]:
        job = jobs.get(t.job)
        return (not (job is not None and job.high_priority), -_share(t.resources, cap))

    for task in sorted(tasks, key=order):
        job = jobs.get(task.job)
        best: Offer | None = None
        best_left = (False, 0.0)
        for offer in offers:
            if _fits(task, offer, job, rnd, offers):
                # a task without GPUs goes on an agent with GPUs only if nothing else fits
                left = (
                    offer.resources.gpus > 0 and not task.resources.gpus,
                    _share(rnd.free[offer.id] - task.resources, cap),
                )
                if best is None or left < best_left:
                    best, best_left = offer, left
        if best is None:
            unplaced.append(task.task_id)
        else:
            rnd.place(task, best, job)
    return rnd.plan(unplaced)


STRATEGIES: dict[str, Callable[[Sequence[PendingTask], Sequence[Offer], Mapping[str, JobSpec]], PackingPlan]] = {
    "first-fit": first_fit,
    "best-fit-decreasing": best_fit_decreasing,
}


@hookimpl
def moroccron_pack_offers(
    runs: Sequence[PendingTask], offers: Sequence[Offer], jobs: Mapping[str, JobSpec], strategy: str
) -> PackingPlan | None:
    fn = STRATEGIES.get(strategy)
    return fn(runs, offers, jobs) if fn else None


@hookimpl
def moroccron_packing_strategies() -> list[str]:
    return list(STRATEGIES)
