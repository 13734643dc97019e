"""Job modules: every Job built while a module loads is collected, duplicates and
misspellings are reported with file:line, graph errors name the jobs' places, and a
validation error with several problems reads one problem a line."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from moroccron import Constraint, Container, Job, Owner, Resources, Volume
from moroccron.cli import main
from moroccron.collect import UnknownField
from moroccron.definitions import DefinitionError, load_definitions
from moroccron.errors import ValidationError


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    return path


def test_jobs_built_in_a_loop_and_kept_in_a_list_are_collected(tmp_path: Path) -> None:
    write(
        tmp_path,
        "loop.py",
        """
        from moroccron import Job

        shards = []
        for i in range(4):
            shards.append(Job(name=f"shard-{i}", command="./run.sh", schedule="@daily"))
        by_region = {r: Job(name=f"sync-{r}", command="sync", schedule="@hourly") for r in ("eu", "us")}
        Job(name="unbound", command="x", schedule="@weekly")
    """,
    )
    defs = load_definitions([tmp_path])
    assert sorted(defs.jobs) == ["shard-0", "shard-1", "shard-2", "shard-3", "sync-eu", "sync-us", "unbound"]
    assert defs.sources["shard-2"] == f"{tmp_path / 'loop.py'}:5"
    assert defs.sources["unbound"] == f"{tmp_path / 'loop.py'}:7"


def test_cli_applies_loop_built_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write(
        jobs,
        "gen.py",
        """
        from moroccron import Job
        ALL = [Job(name=f"j{i}", command="true", schedule="@daily") for i in range(3)]
    """,
    )
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "+ j0" in out and "+ j2" in out and "applied: 3 to create" in out


def test_jobs_function_still_works_and_is_not_counted_twice(tmp_path: Path) -> None:
    write(
        tmp_path,
        "gen.py",
        """
        from moroccron import Job
        base = Job(name="base", command="x", schedule="@daily")

        def jobs():
            return [base, *[Job(name=f"d{i}", command="x", parents=["base"]) for i in range(2)]]
    """,
    )
    defs = load_definitions([tmp_path])
    assert sorted(defs.jobs) == ["base", "d0", "d1"]
    assert defs.sources["d1"] == f"{tmp_path / 'gen.py'}:5"


def test_duplicate_within_a_module_names_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dup.py",
        """
        from moroccron import Job
        first = Job(name="twice", command="x")

        for _ in range(1):
            Job(name="twice", command="y")
    """,
    )
    with pytest.raises(DefinitionError) as info:
        load_definitions([tmp_path])
    assert info.value.path == str(path) and info.value.line == 5
    assert f"job 'twice' is defined twice: at {path}:2 and at {path}:5" in str(info.value)


def test_duplicate_owner_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "from moroccron import Owner\no = Owner(id='x@example.com')\n")
    write(tmp_path, "b.py", "from moroccron import Owner\n\no = Owner(id='x@example.com', slack='#x')\n")
    with pytest.raises(DefinitionError) as info:
        load_definitions([tmp_path])
    assert f"at {tmp_path / 'a.py'}:2 and at {tmp_path / 'b.py'}:3" in str(info.value)


def test_job_from_a_helper_module_is_placed_in_the_helper(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_common.py",
        """
        from moroccron import Job

        def nightly(name):
            return Job(name=name, command="./" + name, schedule="@daily")
    """,
    )
    write(tmp_path, "a.py", "from _common import nightly\nnightly('a')\n")
    write(tmp_path, "b.py", "from _common import nightly\nnightly('b')\n")
    defs = load_definitions([tmp_path])
    assert sorted(defs.jobs) == ["a", "b"]
    assert defs.sources["a"] == f"{tmp_path / '_common.py'}:4"


def test_misspelled_field_says_did_you_mean(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "typo.py",
        """
        from moroccron import Job

        j = Job(name="a", command="x",
                scheduel="@daily")
    """,
    )
    with pytest.raises(DefinitionError) as info:
        load_definitions([tmp_path])
    assert info.value.path == str(path) and info.value.line == 3
    assert "unknown field 'scheduel' (did you mean 'schedule'?)" in str(info.value)
    assert "TypeError" not in str(info.value)


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (
            lambda: Job(name="a", command="x", scheduel="@daily"),
            "Job: unknown field 'scheduel' (did you mean 'schedule'?)",
        ),
        (lambda: Container(imgae="busybox"), "Container: unknown field 'imgae' (did you mean 'image'?)"),
        (lambda: Volume(container_path="/a", host_pth="/b"), "Volume: unknown field 'host_pth'"),
        (lambda: Constraint(field="host", operater="LIKE", value="a"), "(did you mean 'operator'?)"),
        (lambda: Resources(cpu=1), "Resources: unknown field 'cpu' (did you mean 'cpus'?)"),
        (lambda: Owner(id="o@x", emial="o@x"), "Owner: unknown field 'emial' (did you mean 'email'?)"),
        (lambda: Job(name="a", command="x", zzz=1), "Job: unknown field 'zzz'"),
    ],
)
def test_unknown_field_of_every_user_type(build, text: str) -> None:
    with pytest.raises(UnknownField) as info:
        build()
    assert text in str(info.value)
    assert isinstance(info.value, TypeError)  # what the constructor raised before


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.py",
        """
        from moroccron import Job, Volume

        j = Job(command="x", schedule="@daily")
    """,
    )
    with pytest.raises(DefinitionError) as info:
        load_definitions([tmp_path])
    assert info.value.path == str(path) and info.value.line == 3
    assert str(info.value).endswith("Job: missing required field 'name'")
    with pytest.raises(TypeError, match="Volume: missing required field 'container_path'"):
        Volume(mode="RO")


def test_copies_still_work() -> None:
    import copy

    job = Job(name="a", command="x", container=Container(type="docker", image="busybox"))
    assert copy.copy(job) == job and copy.copy(job.container) == job.container
    assert job.evolve(command="y").command == "y"


def test_misspelled_nested_field_in_a_module(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.py",
        """
        from moroccron import Container, Job

        j = Job(name="a", schedule="@daily",
                container=Container(type="docker", imgae="busybox"))
    """,
    )
    with pytest.raises(DefinitionError) as info:
        load_definitions([tmp_path])
    assert info.value.path == str(path) and info.value.line == 4
    assert "Container: unknown field 'imgae' (did you mean 'image'?)" in str(info.value)


def test_several_problems_one_a_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write(
        jobs,
        "bad.py",
        """
        from moroccron import Job, Resources
        j = Job(name="x", command="x", schedule="every day", retries=-1)
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", f"sqlite:///{tmp_path / 'm.db'}"]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == f"moroccron: error: {jobs / 'bad.py'}:2: invalid job 'x':"
    assert any(line.startswith("  - schedule: ") for line in lines[1:])
    assert any(line.startswith("  - retries: ") for line in lines[1:])
    assert ";" not in lines[0]


def test_render_keeps_one_problem_on_one_line() -> None:
    one = ValidationError.single("schedule", "bad", "x")
    assert one.render() == str(one) == "schedule: bad (got 'x')"
    with pytest.raises(ValidationError) as info:
        Job(name="x", command="x", retries=-1, concurrency="never")
    text = info.value.render()
    assert text.startswith("job 'x':\n  - ") and text.count("\n  - ") == 2
    assert "; " in str(info.value)  # the one-line form the API's JSON carries is unchanged


def test_missing_parent_and_cycle_name_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    db = f"sqlite:///{tmp_path / 'm.db'}"
    write(
        jobs,
        "a.py",
        """
        from moroccron import Job

        a = Job(name="a", command="x", parents=["ghost"])
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 1
    err = capsys.readouterr().err
    assert "parent job 'ghost' of 'a' does not exist" in err and f"(defined at {jobs / 'a.py'}:3)" in err
    write(
        jobs,
        "a.py",
        """
        from moroccron import Job
        a = Job(name="a", command="x", parents=["b"])
    """,
    )
    write(
        jobs,
        "b.py",
        """
        from moroccron import Job


        b = Job(name="b", command="x", parents=["a"])
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--db", db]) == 1
    err = capsys.readouterr().err
    assert "dependency cycle: a -> b -> a" in err
    assert f"a at {jobs / 'a.py'}:2" in err and f"b at {jobs / 'b.py'}:4" in err


def test_plugin_policy_errors_name_the_job_and_its_place(tmp_path: Path) -> None:
    from moroccron.definitions import apply_definitions
    from moroccron.errors import FieldError
    from moroccron.hooks import hookimpl
    from moroccron.hooks.manager import PluginManager
    from moroccron.store import Store

    class NeedsOwner:
        @hookimpl
        def moroccron_validate_job(self, job, existing):
            return None if job.owners else [FieldError("owners", "a job needs an owner", [], "at least one owner")]

    plugins = PluginManager(load_entrypoints=False)
    plugins.register(NeedsOwner(), "needs-owner")
    write(
        tmp_path,
        "a.py",
        """
        from moroccron import Job
        Job(name="owned", command="x", owners=["o@x"])
        Job(name="orphan", command="x")
    """,
    )
    defs = load_definitions([tmp_path])
    with Store(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.ensure_schema()
        with pytest.raises(ValidationError) as info:
            apply_definitions(store, defs, plugins=plugins, source="s")
        assert store.all_jobs() == []
    assert info.value.render() == (
        f"plugin policy: owners: a job needs an owner (job 'orphan' at {tmp_path / 'a.py'}:3) "
        "(got []); allowed: at least one owner"
    )


def test_job_from_a_library_outside_the_folder_is_placed_at_the_calling_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    write(
        lib,
        "company_jobs.py",
        """
        from moroccron import Job

        def nightly(name):
            return Job(name=name, command="./" + name, schedule="@daily")
    """,
    )
    monkeypatch.syspath_prepend(str(lib))
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write(jobs, "a.py", "from company_jobs import nightly\n\nnightly('a')\nnightly('a')\n")
    try:
        with pytest.raises(DefinitionError) as info:
            load_definitions([jobs])
    finally:
        sys.modules.pop("company_jobs", None)
    assert f"at {jobs / 'a.py'}:3 and at {jobs / 'a.py'}:4" in str(info.value)
