"""What keeps 100,000 loaded jobs small: shared default sub-specs and maps, and the heap trim."""

from __future__ import annotations

import platform
import sys

import pytest

from moroccron.memory import release_free_memory
from moroccron.model import JobSpec, Resources


def _spec(**fields: object) -> JobSpec:
    return JobSpec.from_dict({"name": "a", "command": "true", "schedule": "0 * * * *", **fields})


def test_default_sub_specs_and_empty_maps_are_shared() -> None:
    one, two = _spec(), _spec(resources={"cpus": 0.1, "mem": 32.0})
    assert one.resources is two.resources and one.resources == Resources()
    assert one.triggers is two.triggers and one.notify is two.notify
    assert one.env is two.env and one.labels is two.labels and dict(one.env) == {}
    assert one.concurrency is two.concurrency and one.catchup is two.catchup


def test_specs_that_differ_keep_their_own_values() -> None:
    spec = _spec(resources={"cpus": 2, "mem": 64}, env={"A": "1"}, labels={"team": "x"}, concurrency="ALLOW")
    assert spec.resources == Resources(cpus=2.0, mem=64.0) and spec.resources is not _spec().resources
    assert dict(spec.env) == {"A": "1"} and dict(spec.labels) == {"team": "x"}
    assert spec.concurrency == "allow"
    assert JobSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(TypeError):
        spec.env["B"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        _spec().env["B"] = "2"  # type: ignore[index]


def test_release_free_memory_asks_glibc_on_linux() -> None:
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert release_free_memory() is glibc
    assert release_free_memory() is glibc  # asked again: same answer, no error


def test_repeated_text_and_numbers_are_one_object_each() -> None:
    one = JobSpec.from_dict({"name": "a", "command": "".join(["tr", "ue"]), "schedule": "0 * * * *"})
    two = JobSpec.from_dict(
        {"name": "b", "command": "".join(["t", "rue"]), "schedule": " ".join(["0", "*", "*", "*", "*"])}
    )
    assert one.command is two.command and one.schedule is two.schedule and one.timezone is two.timezone
    three = JobSpec.from_dict({"name": "c", "command": "true", "retry_delay_seconds": float("90"), "retries": 2})
    four = JobSpec.from_dict({"name": "d", "command": "true", "retry_delay_seconds": float("9" + "0"), "retries": 2})
    assert three.retry_delay_seconds is four.retry_delay_seconds and three.retry_delay_seconds == 90.0
    assert type(JobSpec.from_dict({"name": "e", "command": "true", "retries": 3}).retries) is int
    assert JobSpec.from_dict({"name": "f", "command": "true", "timeout_seconds": 5}).timeout_seconds == 5.0
