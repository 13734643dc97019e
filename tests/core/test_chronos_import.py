"""``moroccron chronos import``: a Chronos export (file, directory or live URL) planned
and applied like ``jobs apply``, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moroccron.chronos_import import ChronosImportError, import_export, parse_export, read_source
from moroccron.cli import main
from moroccron.errors import NotFound
from moroccron.store import Store
from tests.chronos_export import chronos_job, fake_chronos


def export() -> list[dict[str, Any]]:
    return [
        chronos_job(
            "extract",
            command="./extract.sh",
            cpus=0.5,
            mem=512.0,
            disk=1024.0,
            schedule="R/2030-01-01T02:00:00.000Z/P1D",
            scheduleTimeZone="",
            environmentVariables=[{"name": "STAGE", "value": "prod"}],
            constraints=[["rack", "EQUALS", "r1"]],
            fetch=[{"uri": "https://example.com/tool.tgz", "executable": False, "cache": False, "extract": True}],
            uris=["https://example.com/tool.tgz"],
        ),
        chronos_job(
            "transform", command="/usr/bin/transform", shell=False, arguments=["--day", "today"], parents=["extract"]
        ),
        chronos_job(
            "report",
            command="make report",
            parents=["transform"],
            owner="a@example.com,b@example.com",
            container={
                "type": "DOCKER",
                "image": "busybox",
                "network": "BRIDGE",
                "forcePullImage": False,
                "volumes": [{"containerPath": "/data", "hostPath": "/srv/data", "mode": "RO"}],
                "parameters": [
                    {"key": "add-host", "value": "db:10.0.0.1"},
                    {"key": "add-host", "value": "cache:10.0.0.2"},
                ],
            },
        ),
    ]


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def plan_of(out: str) -> list[str]:
    """The plan and summary lines, without the notes on fields not acted on (``!``)."""
    return [line for line in out.splitlines() if not line.startswith("! ")]


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


# --------------------------------------------------------------------------- sources


def test_file_import_creates_every_job_then_a_second_import_is_all_unchanged(store, tmp_path, capsys):
    source = write(tmp_path / "jobs.json", export())
    db = url_of(store)
    code, out, _ = run(capsys, "chronos", "import", str(source), "--db", db)
    assert code == 0
    assert out.splitlines()[:3] == ["+ extract", "+ report", "+ transform"]
    assert "applied: 3 to create, 0 to update, 0 to delete, 0 unchanged" in out

    extract = store.get_job("extract")
    assert (extract.command, extract.shell, extract.schedule, extract.timezone) == (
        "./extract.sh",
        True,
        "R/2030-01-01T02:00:00.000Z/P1D",
        "UTC",
    )
    assert (extract.resources.cpus, extract.resources.mem, extract.resources.disk) == (0.5, 512.0, 1024.0)
    assert extract.env == {"STAGE": "prod"} and extract.uris == ("https://example.com/tool.tgz",)
    assert [(c.field, c.operator, c.value) for c in extract.constraints] == [("rack", "EQUALS", "r1")]
    transform = store.get_job("transform")
    assert (transform.shell, transform.arguments, transform.parents) == (False, ("--day", "today"), ("extract",))
    report = store.get_job("report")
    assert report.owners == ("a@example.com", "b@example.com")
    assert report.container is not None and report.container.image == "busybox"
    assert [(p.key, p.value) for p in report.container.parameters] == [
        ("add-host", "db:10.0.0.1"),
        ("add-host", "cache:10.0.0.2"),
    ]

    revision = store.jobs_revision()
    code, out, _ = run(capsys, "chronos", "import", str(source), "--db", db)
    assert code == 0
    assert plan_of(out) == ["= extract", "= report", "= transform", "no changes (3 unchanged)"]
    assert store.jobs_revision() == revision, "an unchanged import writes nothing"


def test_directory_of_one_job_per_file(tmp_path, capsys):
    jobs = export()
    write(tmp_path / "export" / "scheduled" / "extract.json", jobs[0])
    write(tmp_path / "export" / "dependent" / "transform.json", jobs[1])
    write(tmp_path / "export" / "dependent" / "more.json", [jobs[2]])  # a list in one file is fine too
    write(tmp_path / "export" / ".git" / "junk.json", {"not": "a job"})  # hidden: left out
    (tmp_path / "export" / "README.md").write_text("not json, not read")
    db = f"sqlite:///{tmp_path / 'm.db'}"
    code, out, err = run(capsys, "chronos", "import", str(tmp_path / "export"), "--db", db)
    assert code == 0, err
    assert "applied: 3 to create" in out
    with Store(db) as store:
        assert sorted(j.name for j in store.all_jobs()) == ["extract", "report", "transform"]


def test_live_chronos_url(tmp_path, capsys):
    with fake_chronos(export()) as chronos:
        db = f"sqlite:///{tmp_path / 'm.db'}"
        code, out, err = run(capsys, "chronos", "import", chronos.url, "--db", db)
        assert code == 0, err
        assert chronos.requests == ["/v1/scheduler/jobs"]
    assert "applied: 3 to create" in out
    with Store(db) as store:
        assert store.get_job("transform").parents == ("extract",)


def test_live_chronos_2x_path_and_explicit_jobs_url(tmp_path):
    with fake_chronos(export(), paths=("/scheduler/jobs",)) as chronos:
        items = read_source(chronos.url + "/")
        assert chronos.requests == ["/v1/scheduler/jobs", "/scheduler/jobs"]  # 3.x first, then 2.x
        assert [origin for origin, _ in items][0] == f"{chronos.url}/scheduler/jobs[0]"
    with fake_chronos(export(), paths=("/chronos/v1/scheduler/jobs",)) as chronos:
        assert len(read_source(chronos.url + "/chronos/v1/scheduler/jobs")) == 3  # read as is
        assert len(read_source(chronos.url + "/chronos")) == 3  # a prefix, behind a proxy


def test_unreachable_or_wrong_chronos_is_a_clear_error(tmp_path, capsys):
    with fake_chronos(export(), paths=()) as chronos:
        url = chronos.url
        with pytest.raises(ChronosImportError, match=r"scheduler/jobs: Chronos answered 404"):
            read_source(url)
    with pytest.raises(ChronosImportError, match="cannot reach Chronos"):
        read_source("http://user:secret@127.0.0.1:1", timeout=5)
    try:
        read_source("http://user:secret@127.0.0.1:1", timeout=5)
    except ChronosImportError as exc:
        assert "secret" not in str(exc) and "user:***@127.0.0.1" in str(exc)


def test_dry_run_writes_nothing(store, tmp_path, capsys):
    source = write(tmp_path / "jobs.json", export())
    revision = store.jobs_revision()
    code, out, _ = run(capsys, "chronos", "import", str(source), "--dry-run", "--db", url_of(store))
    assert code == 0
    assert plan_of(out) == [
        "+ extract",
        "+ report",
        "+ transform",
        "would apply: 3 to create, 0 to update, 0 to delete, 0 unchanged",
    ]
    assert store.all_jobs() == [] and store.jobs_revision() == revision


def test_update_names_the_changed_chronos_fields_and_prune_deletes(store, tmp_path, capsys):
    db = url_of(store)
    jobs = export()
    assert run(capsys, "chronos", "import", str(write(tmp_path / "a.json", jobs)), "--db", db)[0] == 0
    jobs[0].update(
        mem=1024.0, scheduleTimeZone="Europe/Paris", environmentVariables=[{"name": "STAGE", "value": "test"}]
    )
    code, out, _ = run(capsys, "chronos", "import", str(write(tmp_path / "b.json", jobs[:2])), "--db", db, "--dry-run")
    assert code == 0
    assert "~ extract (scheduleTimeZone, cpus/mem/disk/gpus, environmentVariables)" in out.splitlines()
    assert "- report" not in out, "without --prune nothing is deleted"
    code, out, err = run(capsys, "chronos", "import", str(tmp_path / "b.json"), "--db", db, "--prune")
    assert code == 0, err
    assert "- report" in out.splitlines() and "applied: 0 to create, 1 to update, 1 to delete, 1 unchanged" in out
    assert store.get_job("extract").resources.mem == 1024.0
    with pytest.raises(NotFound):
        store.get_job("report")


def test_fields_moroccron_does_not_act_on_are_listed(tmp_path, capsys):
    jobs = [chronos_job("legacy", executor="/opt/custom-executor", dataProcessingJobType=True, favourite="yes")]
    code, out, _ = run(
        capsys, "chronos", "import", str(write(tmp_path / "j.json", jobs)), "--db", f"sqlite:///{tmp_path / 'm.db'}"
    )
    assert code == 0
    notes = [line for line in out.splitlines() if line.startswith("! legacy:")]
    assert len(notes) == 1
    assert "executor" in notes[0] and "dataProcessingJobType" in notes[0] and "favourite" in notes[0]


# --------------------------------------------------------------------------- bad input


def test_invalid_jobs_are_all_named_with_their_field_and_nothing_is_written(store, tmp_path, capsys):
    jobs = export()
    jobs[0]["cpus"] = "lots"
    jobs[2]["scheduleTimeZone"] = "Mars/Olympus_Mons"
    jobs[2].pop("parents")
    jobs[2]["schedule"] = "R/2030-01-01T00:00:00Z/PT1H"
    jobs.append(chronos_job("fine"))
    source = write(tmp_path / "jobs.json", jobs)
    code, out, err = run(capsys, "chronos", "import", str(source), "--db", url_of(store))
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == "moroccron: error: 2 job(s) cannot be imported; nothing was changed:"
    assert lines[1].startswith(f"  job 'extract' ({source}[0]): cpus: must be a number (got 'lots')")
    assert lines[2].startswith(f"  job 'report' ({source}[2]): scheduleTimeZone:") and "Mars/Olympus_Mons" in lines[2]
    assert store.all_jobs() == [], "the valid jobs were not written either"


def test_a_parent_neither_in_the_export_nor_stored_is_an_error(store, tmp_path, capsys):
    orphan = [chronos_job("orphan", parents=["nowhere"])]
    source = write(tmp_path / "jobs.json", orphan)
    code, _, err = run(capsys, "chronos", "import", str(source), "--db", url_of(store))
    assert code == 1
    assert f"job 'orphan' ({source}[0]): parents[0]:" in err and "nowhere" in err
    assert store.all_jobs() == []

    # A parent moroccron already holds is fine: jobs can move over in batches.
    assert (
        run(
            capsys,
            "chronos",
            "import",
            str(write(tmp_path / "p.json", [chronos_job("nowhere")])),
            "--db",
            url_of(store),
        )[0]
        == 0
    )
    code, out, err = run(capsys, "chronos", "import", str(source), "--db", url_of(store))
    assert code == 0, err
    assert store.get_job("orphan").parents == ("nowhere",)


def test_a_name_given_twice_is_an_error(tmp_path):
    items = [("a.json", chronos_job("same")), ("b.json", chronos_job("same", command="other"))]
    with pytest.raises(ChronosImportError) as info:
        parse_export(items)
    ((what, exc),) = info.value.problems
    assert what == "job 'same' (b.json)"
    assert exc.errors[0].field == "name" and "a.json" in exc.errors[0].message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"name": "a",\n  "command": }]', r"jobs.json:2:14: not JSON"),
        ('"just text"', "expected a list of Chronos job hashes or one job hash, got a JSON str"),
        ("[42]", r"jobs.json\[0\]: job: must be a JSON object"),
    ],
)
def test_unreadable_exports(tmp_path, content, message):
    path = tmp_path / "jobs.json"
    path.write_text(content)
    with pytest.raises(ChronosImportError, match=message):
        parse_export(read_source(str(path)))


def test_missing_source(tmp_path, capsys):
    code, _, err = run(
        capsys, "chronos", "import", str(tmp_path / "nope.json"), "--db", f"sqlite:///{tmp_path / 'm.db'}"
    )
    assert code == 1 and "nope.json: no such file or directory" in err
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChronosImportError, match=r"no \*.json files"):
        read_source(str(tmp_path / "empty"))


def test_a_cycle_across_the_export_is_refused(sqlite_store):
    jobs = [chronos_job("a", parents=["b"]), chronos_job("b", parents=["a"])]
    parsed = parse_export([(f"x[{i}]", j) for i, j in enumerate(jobs)])
    with pytest.raises(ChronosImportError, match="dependency cycle"):
        import_export(sqlite_store, parsed)
    assert sqlite_store.all_jobs() == []
