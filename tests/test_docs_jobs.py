"""docs/jobs.md is generated from the model: it must match, and every field must be described."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from moroccron import docgen, field_docs, model

ROOT = Path(__file__).resolve().parent.parent
JOBS_MD = ROOT / "docs" / "jobs.md"


def test_docs_jobs_md_is_what_the_model_generates() -> None:
    current = JOBS_MD.read_text(encoding="utf-8")
    assert docgen.splice(current, docgen.jobs_reference()) == current, (
        "docs/jobs.md is out of date with moroccron/model.py or moroccron/field_docs.py: run `make docs`"
    )


def test_every_field_of_every_job_type_is_in_the_document() -> None:
    text = JOBS_MD.read_text(encoding="utf-8")
    types = docgen.documented_types()
    # the nested types a job is made of, found by walking JobSpec's fields
    assert {
        "JobSpec",
        "Resources",
        "Container",
        "Volume",
        "VolumeSource",
        "Parameter",
        "NetworkInfo",
        "Constraint",
        "Triggers",
        "Notify",
        "Fetch",
    } <= set(types)
    for name in types:
        cls = getattr(model, name)
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            doc = field_docs.FIELD_DOCS[name][f.name]
            assert doc.description.strip() and doc.example.strip() and doc.mesos.strip(), f"{name}.{f.name}"
            assert f"| `{f.name}` |" in text, f"{name}.{f.name} is not in docs/jobs.md"


def test_a_field_without_a_description_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = dict(field_docs.FIELD_DOCS)
    container = dict(docs["Container"])
    del container["force_pull"]
    docs["Container"] = MappingProxyType(container)
    monkeypatch.setattr(docgen, "FIELD_DOCS", MappingProxyType(docs))
    with pytest.raises(docgen.DocgenError, match=r"Container\.force_pull has no description"):
        docgen.jobs_reference()


def test_a_description_of_a_field_the_model_lacks_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = dict(field_docs.FIELD_DOCS)
    docs["Resources"] = MappingProxyType({**docs["Resources"], "tpus": docs["Resources"]["gpus"]})
    monkeypatch.setattr(docgen, "FIELD_DOCS", MappingProxyType(docs))
    with pytest.raises(docgen.DocgenError, match=r"Resources\.tpus is described .* not a field of the model"):
        docgen.check_coverage()


# What each example is tried with: the other fields a valid value of the type needs.
_BASES: dict[str, dict[str, Any]] = {
    "JobSpec": {"name": "example-job", "command": "true", "env": {"DB_PASSWORD": "x"}},
    "Resources": {},
    "Container": {"type": "docker", "image": "busybox:1.36"},
    "Volume": {"container_path": "/data", "host_path": "/srv/data"},
    "VolumeSource": {"type": "docker_volume", "name": "cache"},
    "Parameter": {"key": "add-host", "value": "db:10.0.0.5"},
    "NetworkInfo": {"name": "cni-a"},
    "Constraint": {"field": "rack", "operator": "EQUALS", "value": "r1"},
    "Triggers": {},
    "Notify": {},
    "Fetch": {"uri": "https://files.example.com/tool"},
}
_INSTEAD: dict[tuple[str, str], dict[str, Any]] = {
    ("Volume", "image"): {"host_path": None},
    ("Volume", "source"): {"host_path": None},
    ("VolumeSource", "path"): {"type": "host_path", "name": None},
}


@pytest.mark.parametrize(
    "type_name,field_name", [(t, f) for t, fields in field_docs.FIELD_DOCS.items() for f in fields]
)
def test_every_example_is_a_valid_value(type_name: str, field_name: str) -> None:
    doc = field_docs.FIELD_DOCS[type_name][field_name]
    namespace = {n: getattr(model, n) for n in model.__all__}
    given = eval(f"dict({doc.example})", namespace)  # noqa: S307 - our own examples
    assert list(given) == [field_name], f"the example of {type_name}.{field_name} sets {list(given)}"
    kwargs = {**_BASES[type_name], **_INSTEAD.get((type_name, field_name), {}), **given}
    value = getattr(model, type_name)(**kwargs)
    assert getattr(value, field_name) is not None


def test_the_command_checks_rewrites_and_refuses(tmp_path: Path) -> None:
    stale = tmp_path / "jobs.md"
    stale.write_text(f"# Jobs\n\nprose\n\n{docgen.BEGIN}\nold table\n{docgen.END}\n\nmore prose\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "moroccron.docgen", "jobs", "--file", str(stale), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )

    checked = run("--check")
    assert checked.returncode == 1 and "out of date" in checked.stderr and "make docs" in checked.stderr
    assert "old table" in stale.read_text()
    written = run()
    assert written.returncode == 0, written.stderr
    text = stale.read_text()
    assert "old table" not in text and text.startswith("# Jobs\n\nprose\n") and text.endswith("more prose\n")
    assert "| `kill_grace_seconds` |" in text
    assert run("--check").returncode == 0
    stale.write_text("# no markers\n")
    refused = run("--check")
    assert refused.returncode == 2 and "markers are missing" in refused.stderr


def test_the_module_example_of_the_document_builds_its_job() -> None:
    text = JOBS_MD.read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/jobs.md", "exec"), namespace)  # noqa: S102 - the document's own example
    job = namespace["load"]
    assert isinstance(job, model.JobSpec)
    assert job.container is not None and job.container.volumes[0].mode == "RW"
    assert job.secret_env == ("DB_PASSWORD",) and job.constraints[0].operator == "EQUALS"
