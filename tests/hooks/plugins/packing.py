"""Packing strategies as a third-party plugin would write them."""

from __future__ import annotations

from moroccron.hooks import hookimpl
from moroccron.hooks.types import PackingPlan


class OnePerOffer:
    """Strategy ``one-per-offer``: at most one task on each offer, in order."""

    NAME = "one-per-offer"

    @hookimpl
    def moroccron_packing_strategies(self):
        return [self.NAME]

    @hookimpl
    def moroccron_pack_offers(self, runs, offers, strategy):
        if strategy != self.NAME:
            return None
        waiting = list(runs)
        assignments = {}
        for offer in offers:
            for task in waiting:
                if task.resources.fits_in(offer.resources):
                    assignments[offer.id] = [task.task_id]
                    waiting.remove(task)
                    break
        return PackingPlan(assignments=assignments, unplaced=[t.task_id for t in waiting])


class Fixed:
    """Strategy ``fixed``: returns the plan it was given, right or wrong."""

    def __init__(self, plan: object) -> None:
        self.plan = plan

    @hookimpl
    def moroccron_packing_strategies(self):
        return ["fixed"]

    @hookimpl
    def moroccron_pack_offers(self, strategy):
        return self.plan if strategy == "fixed" else None
