"""The metrics as Codahale (Dropwizard) JSON, the form Chronos served at ``/metrics``.

Chronos clients (chronos-python's ``metrics()``) read ``/metrics`` as a JSON object with
``version``, ``gauges``, ``counters``, ``histograms``, ``meters`` and ``timers``. The
same series as the Prometheus text, one entry per sample: its name, then its labels
(``moroccron_runs_total.job=etl.state=succeeded``).
"""

from __future__ import annotations

from typing import Any

from prometheus_client.registry import CollectorRegistry

__all__ = ["wants_json", "codahale"]


def wants_json(accept: str | None) -> bool:
    """JSON for a client that asks for it before text, or that sends no ``Accept`` at all
    (chronos-python sends none); Prometheus and ``curl`` (``*/*``) get the text."""
    if not accept:
        return True
    ranked = []
    for i, part in enumerate(accept.split(",")):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, kind.lower()))
    for _, _, kind in sorted(ranked):
        if kind == "application/json":
            return True
        if kind.startswith(("text/", "application/openmetrics")) or kind == "*/*":
            return False
    return False


def _key(name: str, labels: dict[str, str]) -> str:
    return ".".join([name, *(f"{k}={v}" for k, v in sorted(labels.items()))])


def codahale(registry: CollectorRegistry) -> dict[str, Any]:
    """Every sample of ``registry``: counters under ``counters``, the rest under ``gauges``."""
    out: dict[str, Any] = {
        "version": "3.0.0",
        "gauges": {},
        "counters": {},
        "histograms": {},
        "meters": {},
        "timers": {},
    }
    for family in registry.collect():
        for sample in family.samples:
            if family.type == "counter" and sample.name.endswith("_total"):
                out["counters"][_key(sample.name, sample.labels)] = {"count": sample.value}
            elif family.type != "counter":
                out["gauges"][_key(sample.name, sample.labels)] = {"value": sample.value}
    return out
