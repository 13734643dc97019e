"""`moroccron serve` as a real process with its in-process local master, driven over HTTP."""

from __future__ import annotations

import textwrap

import pytest
import requests

from moroccron.cli import main
from tests.e2e.harness import wait_for
from tests.servers import serve_process

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "demo.py").write_text(
        textwrap.dedent("""
        from moroccron import Job
        greet = Job(name="greet", command='echo "hello $1"', arguments=["world"])
        tick = Job(name="tick", command="echo tick", schedule="*/2 * * * * *", catchup="none")
    """)
    )
    with serve_process(tmp_path, "--jobs", str(jobs)) as serving:
        yield serving.url, serving.proc


def test_serve_runs_scheduled_jobs_and_run_command_starts_one(server, capsys):
    url, _ = server
    status = wait_for(
        lambda: (s := requests.get(f"{url}/api/v1/status").json())["connected"] and s, 20, what="connected"
    )
    assert status["leader"] is True and status["framework_id"]
    runs = wait_for(
        lambda: [r for r in requests.get(f"{url}/api/v1/jobs/tick/runs").json()["runs"] if r["state"] == "succeeded"],
        20,
        what="a scheduled run",
    )
    assert runs[0]["skew_seconds"] is not None

    assert main(["run", "greet", "--api", url]) == 0
    assert "started greet." in capsys.readouterr().out
    done = wait_for(
        lambda: [r for r in requests.get(f"{url}/api/v1/jobs/greet/runs").json()["runs"] if r["state"] == "succeeded"],
        20,
        what="greet to finish",
    )
    assert done[0]["trigger"] == "manual" and done[0]["exit_status"] == 0

    assert main(["run", "no-such-job", "--api", url]) == 1
    assert "not found" in capsys.readouterr().err
