"""jobs apply: sources scope --prune, owners change only the fields a module sets, and a
dry run never creates nor migrates the database."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moroccron.cli import main
from moroccron.model import JobSpec
from moroccron.store import Store


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    return path


def team(folder: Path, *names: str) -> None:
    lines = ["from moroccron import Job"]
    lines += [f"Job(name={n!r}, command='echo {n}', schedule='@daily')" for n in names]
    write(folder, "jobs.py", "\n".join(lines) + "\n")


def test_prune_deletes_only_its_own_sources_jobs(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "team-a", tmp_path / "team-b"
    team(a, "a1", "a2")
    team(b, "b1")
    assert main(["jobs", "apply", str(a), "--db", db_url, "--source", "team-a"]) == 0
    assert main(["jobs", "apply", str(b), "--db", db_url, "--source", "team-b"]) == 0
    with Store(db_url) as store:  # a job made through the API: no source
        store.put_job(JobSpec(name="by-hand", command="x", schedule="@daily"))
        assert store.job_sources() == {"a1": "team-a", "a2": "team-a", "b1": "team-b", "by-hand": None}
    capsys.readouterr()

    team(a, "a1")  # team A drops a2 and prunes: team B's job and the API's job stay
    assert main(["jobs", "apply", str(a), "--db", db_url, "--source", "team-a", "--prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "source: team-a" in out and "- a2" in out
    assert "- b1" not in out and "- by-hand" not in out and "would apply: 0 to create, 0 to update, 1 to delete" in out
    assert main(["jobs", "apply", str(a), "--db", db_url, "--source", "team-a", "--prune"]) == 0
    with Store(db_url) as store:
        assert store.job_sources() == {"a1": "team-a", "b1": "team-b", "by-hand": None}

    team(b)  # team B now defines nothing: its prune deletes b1 only
    assert main(["jobs", "apply", str(b), "--db", db_url, "--source", "team-b", "--prune"]) == 0
    with Store(db_url) as store:
        assert store.job_sources() == {"a1": "team-a", "by-hand": None}


def test_default_source_is_the_paths_and_a_job_can_change_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'm.db'}"
    team(tmp_path / "jobs" / "team-a", "a1")
    assert main(["jobs", "apply", "jobs/team-a/", "--db", db]) == 0
    assert "source: jobs/team-a\n" in capsys.readouterr().out
    with Store(db) as store:
        assert store.job_sources() == {"a1": "jobs/team-a"}
    # the same path written otherwise is the same source: nothing to do
    assert main(["jobs", "apply", "./jobs/team-a", "--db", db]) == 0
    assert "no changes" in capsys.readouterr().out
    # another source takes the job over: an update of its source alone
    assert main(["jobs", "apply", "jobs/team-a", "--db", db, "--source", "platform"]) == 0
    out = capsys.readouterr().out
    assert "~ a1 (source)" in out
    with Store(db) as store:
        assert store.job_sources() == {"a1": "platform"}


def test_bad_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    team(tmp_path / "j", "a1")
    assert main(["jobs", "apply", str(tmp_path / "j"), "--db", f"sqlite:///{tmp_path / 'm.db'}", "--source", " "]) == 1
    assert "source: must be a non-empty printable name" in capsys.readouterr().err


def test_owner_fields_set_elsewhere_are_kept(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    write(
        jobs,
        "owners.py",
        """
        from moroccron import Owner
        Owner(id="data@example.com", name="Data", slack="#data")
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "+ owner data@example.com" in out and "owners: 1 to create, 0 to update, 0 unchanged" in out
    assert (
        main(
            [
                "owners",
                "set",
                "data@example.com",
                "--db",
                db_url,
                "--mute-until",
                "2031-01-01T00:00:00Z",
                "--pref",
                "failure=slack",
                "--pagerduty",
                "DATA",
            ]
        )
        == 0
    )
    capsys.readouterr()

    # re-applying the same module changes nothing: the mute, the preferences and the
    # PagerDuty service set with `owners set` are not the module's to clear
    assert main(["jobs", "apply", str(jobs), "--db", db_url]) == 0
    assert "no changes" in capsys.readouterr().out
    write(
        jobs,
        "owners.py",
        """
        from moroccron import Owner
        Owner(id="data@example.com", name="Data", slack="#data-alerts")
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", db_url, "--dry-run"]) == 0
    assert "~ owner data@example.com (slack)" in capsys.readouterr().out
    assert main(["jobs", "apply", str(jobs), "--db", db_url]) == 0
    with Store(db_url) as store:
        owner = store.get_owner("data@example.com")
    assert owner.slack == "#data-alerts" and owner.name == "Data"
    assert owner.mute_until == datetime(2031, 1, 1, tzinfo=UTC)
    assert owner.preferences["failure"] == ("slack",) and owner.pagerduty == "DATA"


def test_dry_run_without_a_database_creates_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    team(tmp_path / "jobs", "a1", "a2")
    path = tmp_path / "new.db"
    assert main(["jobs", "apply", str(tmp_path / "jobs"), "--db", f"sqlite:///{path}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"note: database {path} does not exist: planned against no stored jobs (nothing was created)" in out
    assert "+ a1" in out and "would apply: 2 to create" in out
    assert not path.exists() and list(tmp_path.glob("new.db*")) == []


def test_dry_run_on_an_empty_postgres_creates_no_schema(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    team(tmp_path / "jobs", "a1")
    assert main(["jobs", "apply", str(tmp_path / "jobs"), "--db", db_url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would apply: 1 to create" in out and "planned against no stored jobs" in out
    with Store(db_url) as store:
        assert store.current_revision() is None


def test_dry_run_on_an_older_schema_reads_without_migrating(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    with Store(url) as store:
        store.upgrade("0007")
        store.put_job(JobSpec(name="a1", command="echo a1", schedule="@daily"))
    before = path.read_bytes()
    team(tmp_path / "jobs", "a1", "a2")
    assert main(["jobs", "apply", str(tmp_path / "jobs"), "--db", url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "schema is at revision 0007" in out and "run `moroccron db upgrade` before applying" in out
    assert "+ a2" in out and "+ a1" not in out  # the stored job was read
    assert path.read_bytes() == before
    with Store(url) as store:
        assert store.current_revision() == "0007"
    # the apply itself migrates, then stores the source
    assert main(["jobs", "apply", str(tmp_path / "jobs"), "--db", url, "--source", "s"]) == 0
    with Store(url) as store:
        assert store.current_revision() == store.head_revision()
        assert store.job_sources() == {"a1": "s", "a2": "s"}
