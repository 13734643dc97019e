"""CLI commands that talk to a running scheduler: a real `moroccron serve` process with its
in-process local Mesos master, so that runs really run and their logs really stream."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from moroccron.cli import main
from tests.e2e.harness import wait_for
from tests.servers import Serving, serve_process

pytestmark = pytest.mark.slow

JOBS = """
from moroccron import Job
# a shell command gets its arguments appended: the last echo prints them
greet = Job(name="greet", command='echo "to stderr" >&2; echo hello', arguments=["world"])
chatty = Job(name="chatty", command='for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.5; done; echo "done" >&2')
fails = Job(name="fails", command='echo "about to fail"; echo "oops" >&2; exit 7')
sleeper = Job(name="sleeper", command="sleep 120")
toggled = Job(name="toggled", command="true", schedule="0 3 * * *")
doomed = Job(name="doomed", command="true")
kept = Job(name="kept", command="true")
trunk = Job(name="trunk", command="true")
branch = Job(name="branch", command="true", parents=["trunk"])
"""


@contextmanager
def _serving(tmp: Path, **env: str) -> Iterator[Serving]:
    """`moroccron serve` with the job module above; yields once it is ready."""
    (tmp / "jobs").mkdir()
    (tmp / "jobs" / "cli.py").write_text(textwrap.dedent(JOBS))
    with serve_process(tmp, "--jobs", str(tmp / "jobs"), env=env, ready="/readyz") as serving:
        yield serving


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The served API's URL, once the scheduler is connected to its local master."""
    with _serving(tmp_path_factory.mktemp("cli-api")) as serving:
        serving.wait_connected()
        yield serving.url


def _runs(url: str, job: str) -> list[dict]:
    return requests.get(f"{url}/api/v1/jobs/{job}/runs", timeout=10).json()["runs"]


def test_run_wait_streams_stdout_and_stderr_and_exits_0(api, capsys):
    assert main(["run", "greet", "--wait", "--api", api]) == 0
    out, err = capsys.readouterr()
    assert out == "hello world\n"
    assert "to stderr\n" in err and "started greet." in err
    assert err.rstrip().splitlines()[-1].endswith(": succeeded, exit status 0"), err


def test_run_wait_streams_output_while_the_task_runs(api, capsys, monkeypatch):
    """Each line reaches the terminal while the task still runs: the run is not final when
    the first line arrives."""
    seen: list[tuple[str, str]] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            if text.strip():
                state = _runs(api, "chatty")[0]["state"]
                seen.append((text, state))
            return super().write(text)

    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["run", "chatty", "--wait", "--api", api]) == 0
    assert out.getvalue() == "".join(f"line {i}\n" for i in range(1, 7))
    assert seen[0][1] in ("starting", "running"), f"the first output came while the run was {seen[0][1]}"
    assert "done\n" in capsys.readouterr().err


def test_run_wait_exits_with_the_tasks_exit_status(api, capsys):
    assert main(["run", "fails", "--wait", "--api", api]) == 7
    out, err = capsys.readouterr()
    assert out == "about to fail\n" and "oops\n" in err
    assert ": failed, exit status 7" in err


def test_run_wait_exits_with_the_kill_signal_status_when_the_run_is_killed(api, capsys, tmp_path):
    env = dict(os.environ)
    env.pop("MOROCCRON_TOKEN", None)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "moroccron.cli", "run", "sleeper", "--wait", "--api", api],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        running = wait_for(
            lambda: [r for r in _runs(api, "sleeper") if r["state"] == "running"],
            60,
            interval=0.2,
            what="sleeper to run",
        )
        task = running[0]["task_id"]
        assert main(["runs", "kill", task, "--api", api]) == 0
        assert capsys.readouterr().out.strip() == f"killing {task}"
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 143, err  # 128 + SIGTERM, as the agent reported it
    assert f"{task}: killed, exit status 143" in err
    assert main(["runs", "kill", task, "--api", api]) == 1
    assert "has already ended (killed)" in capsys.readouterr().err


def test_runs_show_and_jobs_runs(api, capsys):
    assert main(["run", "fails", "--wait", "--api", api]) == 7
    capsys.readouterr()
    assert main(["jobs", "runs", "fails", "--api", api]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["TASK", "STATE", "TRIGGER"]
    assert rows and all(" failed " in r and " manual " in r and " 7 " in r for r in rows), out
    task = rows[0].split()[0]

    assert main(["jobs", "runs", "fails", "--state", "succeeded", "--api", api]) == 0
    assert capsys.readouterr().out.strip() == "fails: no runs in state succeeded"
    assert main(["jobs", "runs", "fails", "--limit", "1", "--json", "--api", api]) == 0
    import json

    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 1 and listed[0]["task_id"] == task and listed[0]["exit_status"] == 7

    assert main(["runs", "show", task, "--api", api]) == 0
    out = capsys.readouterr().out
    fields = dict(line.split(None, 1) if " " in line else (line, "") for line in out.splitlines())
    assert fields["job"].strip() == "fails" and fields["state"].strip() == "failed"
    assert "exit status" in out and "hostname" in out
    assert main(["runs", "show", task, "--json", "--api", api]) == 0
    assert json.loads(capsys.readouterr().out)["exit_status"] == 7

    assert main(["runs", "show", "no-such-task", "--api", api]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert main(["jobs", "runs", "no-such-job", "--api", api]) == 1
    assert "not found" in capsys.readouterr().err


def test_jobs_logs_of_the_latest_run_and_of_a_chosen_run(api, capsys):
    assert main(["run", "greet", "world", "--wait", "--api", api]) == 0
    assert main(["run", "greet", "again", "--wait", "--api", api]) == 0
    capsys.readouterr()
    assert main(["jobs", "logs", "greet", "--api", api]) == 0
    assert capsys.readouterr().out == "hello again\n"
    assert main(["jobs", "logs", "greet", "--stderr", "--api", api]) == 0
    assert capsys.readouterr().out == "to stderr\n"
    older = [r for r in _runs(api, "greet") if r["arguments"] == ["world"]][0]["task_id"]
    assert main(["jobs", "logs", "greet", "--run", older, "--api", api]) == 0
    assert capsys.readouterr().out == "hello world\n"
    assert main(["jobs", "logs", "fails", "--run", older, "--api", api]) == 1
    assert "is a run of 'greet', not of 'fails'" in capsys.readouterr().err
    assert main(["jobs", "logs", "kept", "--api", api]) == 1
    assert "has no launched run" in capsys.readouterr().err


def test_jobs_logs_follow_prints_until_the_run_ends(api, capsys):
    assert main(["run", "chatty", "--api", api]) == 0
    task = capsys.readouterr().out.split()[1]
    wait_for(
        lambda: _runs(api, "chatty")[0]["agent_id"] and _runs(api, "chatty")[0]["task_id"] == task,
        60,
        interval=0.1,
        what="chatty to launch",
    )
    assert main(["jobs", "logs", "chatty", "--follow", "--api", api]) == 0
    assert capsys.readouterr().out == "".join(f"line {i}\n" for i in range(1, 7))
    assert _runs(api, "chatty")[0]["state"] == "succeeded", "--follow returned once the run had ended"


def test_jobs_disable_and_enable(api, capsys):
    assert main(["jobs", "disable", "toggled", "--api", api]) == 0
    assert capsys.readouterr().out.strip() == "disabled toggled"
    assert requests.get(f"{api}/api/v1/jobs/toggled", timeout=10).json()["disabled"] is True
    assert main(["jobs", "enable", "toggled", "--api", api]) == 0
    assert capsys.readouterr().out.strip() == "enabled toggled"
    assert requests.get(f"{api}/api/v1/jobs/toggled", timeout=10).json()["disabled"] is False
    assert main(["jobs", "enable", "no-such-job", "--api", api]) == 1
    assert "not found" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_jobs_delete_asks_first(api, capsys, monkeypatch, tmp_path):
    # Not a terminal and no --yes: refused, nothing deleted.
    done = subprocess.run(
        [sys.executable, "-m", "moroccron.cli", "jobs", "delete", "doomed", "--api", api],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        input="y\n",
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "moroccron: error: will not delete job doomed without confirmation: standard input is not a terminal; "
        "pass --yes to confirm"
    ]
    assert requests.get(f"{api}/api/v1/jobs/doomed", timeout=10).status_code == 200

    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    assert main(["jobs", "delete", "doomed", "--api", api]) == 1
    err = capsys.readouterr().err
    assert "Delete job doomed, with its run history? [y/N]" in err and "not confirmed" in err
    assert requests.get(f"{api}/api/v1/jobs/doomed", timeout=10).status_code == 200

    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    assert main(["jobs", "delete", "doomed", "--api", api]) == 0
    assert capsys.readouterr().out.strip() == "deleted doomed"
    assert requests.get(f"{api}/api/v1/jobs/doomed", timeout=10).status_code == 404

    assert main(["jobs", "delete", "kept", "--yes", "--api", api]) == 0
    assert requests.get(f"{api}/api/v1/jobs/kept", timeout=10).status_code == 404
    assert main(["jobs", "delete", "kept", "--yes", "--api", api]) == 1
    assert "not found" in capsys.readouterr().err

    assert main(["jobs", "delete", "trunk", "--yes", "--api", api]) == 1
    err = capsys.readouterr().err
    assert err.startswith("moroccron: error: HTTP 409") and "branch" in err, err
    assert main(["jobs", "delete", "trunk", "--cascade", "--yes", "--api", api]) == 0
    assert capsys.readouterr().out.strip() == "deleted trunk and the jobs that depend on it"
    for gone in ("trunk", "branch"):
        assert requests.get(f"{api}/api/v1/jobs/{gone}", timeout=10).status_code == 404


def test_run_of_an_unknown_job(api, capsys):
    assert main(["run", "no-such-job", "--wait", "--api", api]) == 1
    assert "not found" in capsys.readouterr().err


def test_run_reads_the_api_address_from_config(api, capsys, tmp_path: Path):
    config = tmp_path / "m.toml"
    config.write_text(f'bind = "{api.removeprefix("http://")}"\n')
    assert main(["--config", str(config), "run", "greet", "--wait"]) == 0
    assert capsys.readouterr().out == "hello world\n"


def test_tokens_missing_refused_and_without_the_role(tmp_path, capsys, monkeypatch):
    import secrets

    reader, writer = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with _serving(tmp_path, MOROCCRON_AUTH_TOKENS=f"{reader}:read,{writer}:write") as serving:
        url = serving.url
        serving.wait_connected(headers={"Authorization": f"Bearer {reader}"})
        assert main(["jobs", "runs", "greet", "--api", url]) == 1
        assert (
            capsys.readouterr()
            .err.strip()
            .startswith("moroccron: error: HTTP 401: the API needs a token: --token or MOROCCRON_TOKEN")
        )
        assert main(["jobs", "runs", "greet", "--api", url, "--token", "not-" + reader]) == 1
        assert "HTTP 401: the token was refused" in capsys.readouterr().err
        monkeypatch.setenv("MOROCCRON_TOKEN", reader)
        assert main(["jobs", "runs", "greet", "--api", url]) == 0, "the token from the environment"
        assert capsys.readouterr().out.strip() == "greet: no runs"
        assert main(["jobs", "disable", "greet", "--api", url]) == 1
        assert "HTTP 403: the token's role may not do this" in capsys.readouterr().err
        assert main(["run", "greet", "--wait", "--api", url, "--token", writer]) == 0, "--token wins"
        assert capsys.readouterr().out == "hello world\n"
