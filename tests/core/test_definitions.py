"""Job-definition modules: load, plan, validate everything, apply as one change."""

import textwrap
from pathlib import Path

import pytest

from moroccron.cli import main
from moroccron.definitions import DefinitionError, load_definitions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs"


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def test_examples_load():
    defs = load_definitions([EXAMPLES])
    assert {"etl-extract-orders", "etl-transform", "daily-report", "health-check"} <= set(defs.jobs)
    assert defs.jobs["etl-transform"].parents == ("etl-extract-orders", "etl-extract-users")
    assert "data-oncall@example.com" in defs.owners


def test_jobs_function_and_helper_modules(tmp_path):
    write(tmp_path, "_common.py", "OWNER = 'me@x'\n")
    write(
        tmp_path,
        "gen.py",
        """
        from moroccron import Job
        from _common import OWNER

        def jobs():
            return [Job(name=f"shard-{i}", command="x", schedule="@daily", owners=[OWNER]) for i in range(3)]
    """,
    )
    defs = load_definitions([tmp_path])
    assert sorted(defs.jobs) == ["shard-0", "shard-1", "shard-2"]
    assert defs.jobs["shard-1"].owners == ("me@x",)


@pytest.mark.parametrize(
    ("body", "line", "text"),
    [
        ("from moroccron import Job\nx = Job(name='a', command='x'\n", 2, "syntax error"),
        ("from moroccron import Job\n\nx = Job(name='a', command='x', schedule='every day')\n", 3, "schedule"),
        ("import nothing_here_at_all\n", 1, "ModuleNotFoundError"),
    ],
)
def test_broken_module_reports_file_and_line(tmp_path, body, line, text):
    path = write(tmp_path, "broken.py", body)
    with pytest.raises(DefinitionError) as info:
        load_definitions([tmp_path])
    assert info.value.path == str(path)
    assert info.value.line == line
    assert text in str(info.value)


def test_duplicate_job_name_across_files(tmp_path):
    write(tmp_path, "a.py", "from moroccron import Job\nj = Job(name='same', command='x')\n")
    write(tmp_path, "b.py", "from moroccron import Job\nj = Job(name='same', command='y')\n")
    with pytest.raises(DefinitionError) as info:
        load_definitions([tmp_path])
    # both places, each with its line
    assert f"job 'same' is defined twice: at {tmp_path / 'a.py'}:2 and at {tmp_path / 'b.py'}:2" in str(info.value)
    assert info.value.path == str(tmp_path / "b.py") and info.value.line == 2


def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'm.db'}"


def test_cli_apply_dry_run_then_apply_then_prune(tmp_path, capsys):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write(
        jobs,
        "one.py",
        """
        from moroccron import Job
        a = Job(name="a", command="echo a", schedule="@hourly")
        b = Job(name="b", command="echo b", parents=["a"])
    """,
    )
    db = db_url(tmp_path)
    assert main(["jobs", "apply", str(jobs), "--db", db, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+ a" in out and "+ b" in out and "would apply: 2 to create" in out
    assert main(["jobs", "list", "--db", db]) == 0
    assert "a" not in capsys.readouterr().out.split("\n", 1)[1]

    assert main(["jobs", "apply", str(jobs), "--db", db]) == 0
    assert "applied: 2 to create" in capsys.readouterr().out

    write(
        jobs,
        "one.py",
        """
        from moroccron import Job
        a = Job(name="a", command="echo A", schedule="@hourly")
    """,
    )
    # without --prune, b stays stored (its parent a still exists) and only a changes
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "~ a (command)" in out and "- b" not in out
    assert main(["jobs", "show", "b", "--db", db]) == 0


def test_cli_apply_update_and_prune(tmp_path, capsys):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    db = db_url(tmp_path)
    write(
        jobs,
        "one.py",
        """
        from moroccron import Job
        a = Job(name="a", command="echo a", schedule="@hourly")
        b = Job(name="b", command="echo b", schedule="@daily")
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 0
    capsys.readouterr()
    write(
        jobs,
        "one.py",
        """
        from moroccron import Job
        a = Job(name="a", command="echo A", schedule="@hourly")
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", db, "--prune"]) == 0
    out = capsys.readouterr().out
    assert "~ a (command)" in out and "- b" in out
    assert main(["jobs", "show", "a", "--db", db]) == 0
    assert '"command": "echo A"' in capsys.readouterr().out
    assert main(["jobs", "show", "b", "--db", db]) == 1
    assert "not found" in capsys.readouterr().err


def test_cli_broken_module_changes_nothing(tmp_path, capsys):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    db = db_url(tmp_path)
    write(jobs, "good.py", "from moroccron import Job\ng = Job(name='good', command='x', schedule='@daily')\n")
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 0
    write(jobs, "good.py", "from moroccron import Job\ng = Job(name='good', command='CHANGED', schedule='@daily')\n")
    write(jobs, "new.py", "from moroccron import Job\nn = Job(name='new', command='x', schedule='@daily')\n")
    write(jobs, "zbroken.py", "from moroccron import Job\n\n\nraise RuntimeError('boom')\n")
    capsys.readouterr()
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 1
    err = capsys.readouterr().err
    assert "zbroken.py:4" in err and "RuntimeError: boom" in err
    assert main(["jobs", "show", "good", "--db", db]) == 0
    assert '"command": "x"' in capsys.readouterr().out
    assert main(["jobs", "show", "new", "--db", db]) == 1


def test_cli_apply_rejects_missing_parent_and_cycle(tmp_path, capsys):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    db = db_url(tmp_path)
    write(jobs, "a.py", "from moroccron import Job\na = Job(name='a', command='x', parents=['ghost'])\n")
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 1
    assert "ghost" in capsys.readouterr().err
    write(
        jobs,
        "a.py",
        """
        from moroccron import Job
        a = Job(name="a", command="x", parents=["b"])
        b = Job(name="b", command="x", parents=["a"])
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 1
    assert "dependency cycle" in capsys.readouterr().err
    assert main(["jobs", "list", "--db", db, "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


def test_cli_prune_refuses_to_orphan_children(tmp_path, capsys):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    db = db_url(tmp_path)
    write(
        jobs,
        "a.py",
        """
        from moroccron import Job
        a = Job(name="a", command="x", schedule="@daily")
        b = Job(name="b", command="x", parents=["a"])
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 0
    other = tmp_path / "other"
    other.mkdir()
    write(other, "b.py", "from moroccron import Job\nb = Job(name='b', command='x', parents=['a'])\n")
    capsys.readouterr()
    # applying only b, as the same source, with --prune would delete a while b still needs it
    assert main(["jobs", "apply", str(other), "--db", db, "--prune", "--source", str(jobs)]) == 1
    assert "'a'" in capsys.readouterr().err


def test_cli_next_prints_fire_times(tmp_path, capsys):
    db = db_url(tmp_path)
    assert main(["jobs", "apply", str(EXAMPLES), "--db", db]) == 0
    capsys.readouterr()
    assert main(["jobs", "next", "health-check", "etl-transform", "-n", "2", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "health-check:" in out and out.count(" UTC") >= 2
    assert "etl-transform: after etl-extract-orders and etl-extract-users succeed" in out
