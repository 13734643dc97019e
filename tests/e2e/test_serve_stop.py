"""Stopping ``moroccron serve``, a real process: SIGTERM and SIGINT stop cleanly and exit 0,
a second signal exits at once, a signal during start-up exits before contending.

The process is started through a small script that adds a plugin whose start-up or
shutdown hook can be made to hang, to hold the process at a known point of its start
or stop; everything else is ``serve`` as the command line runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from moroccron.store import Store
from tests.e2e.harness import wait_for
from tests.servers import free_port

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import logging, os, sys, time

    from moroccron.config import load_settings
    from moroccron.hooks import hookimpl
    from moroccron.hooks.manager import PluginManager
    from moroccron.service import serve


    class Hang:
        @hookimpl
        def moroccron_startup(self, config, store):
            if os.environ.get("HANG_IN") == "startup":
                logging.getLogger("test").info("start-up hook hanging")
                time.sleep(120)

        @hookimpl
        def moroccron_shutdown(self, config):
            if os.environ.get("HANG_IN") == "shutdown":
                logging.getLogger("test").info("shutdown hook hanging")
                time.sleep(120)


    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    plugins = PluginManager(load_entrypoints=False)
    plugins.register(Hang(), "hang")
    sys.exit(serve(load_settings({"db": sys.argv[1], "bind": sys.argv[2], "jobs": (sys.argv[3],),
                                  "hook_timeout_seconds": 300}), plugins=plugins))
""")

JOBS = textwrap.dedent("""
    from moroccron import Job
    tick = Job(name="tick", command="true", schedule="* * * * * *", catchup="none")
""")


class Serve:
    def __init__(self, tmp_path: Path, hang_in: str = "") -> None:
        (tmp_path / "serve.py").write_text(SCRIPT)
        (tmp_path / "jobs").mkdir(exist_ok=True)
        (tmp_path / "jobs" / "tick.py").write_text(JOBS)
        self.db = f"sqlite:///{tmp_path / 'm.db'}"
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = tmp_path / "serve.log"
        env = dict(os.environ, MOROCCRON_LOCAL_WORK_DIR=str(tmp_path / "mesos"), HANG_IN=hang_in)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(tmp_path / "serve.py"),
                    self.db,
                    self.url.removeprefix("http://"),
                    str(tmp_path / "jobs"),
                ],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def logged(self, line: str, timeout: float = 60) -> None:
        wait_for(lambda: line in self.text() or self.proc.poll() is not None, timeout, 0.05, what=repr(line))
        assert line in self.text(), self.text()[-3000:]

    def leading(self) -> dict:
        def ready():
            try:
                s = requests.get(f"{self.url}/api/v1/status", timeout=2).json()
            except requests.RequestException:
                assert self.proc.poll() is None, self.text()[-3000:]
                return None
            return s if s.get("leader") and s.get("connected") else None

        return wait_for(ready, 60, 0.1, what="serve to lead")

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"serve did not exit within {timeout}s:\n{self.text()[-3000:]}") from None


@pytest.fixture
def cleanup():
    made: list[Serve] = []
    yield made
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_cleanly_and_exits_0(tmp_path, cleanup, sig):
    serve = Serve(tmp_path)
    cleanup.append(serve)
    status = serve.leading()
    wait_for(
        lambda: [
            r
            for r in requests.get(f"{serve.url}/api/v1/jobs/tick/runs", timeout=5).json()["runs"]
            if r["state"] == "succeeded"
        ],
        30,
        what="a run",
    )
    serve.proc.send_signal(sig)
    assert serve.wait() == 0, serve.text()[-3000:]
    text = serve.text()
    expected = [
        f"{sig.name} received: stopping cleanly",
        "no new work; finishing the step in progress",
        "Mesos scheduler client stopped",
        f"leadership lease released (epoch {status['epoch']})",
        "stopped in",
    ]
    positions = [text.find(line) for line in expected]
    assert all(p >= 0 for p in positions), f"not all of {expected} logged:\n{text[-3000:]}"
    assert positions == sorted(positions), "logged out of order"
    assert "Traceback" not in text and "leadership lost" not in text
    with Store(serve.db) as store:
        assert store.leader() is None, "the lease was released: the next instance leads at once"
        assert store.current_epoch() == status["epoch"]


def test_a_second_signal_exits_at_once(tmp_path, cleanup):
    serve = Serve(tmp_path, hang_in="shutdown")
    cleanup.append(serve)
    serve.leading()
    serve.proc.send_signal(signal.SIGTERM)
    serve.logged("shutdown hook hanging")  # the stop is under way, held by the hook for 120 s
    assert "stopped in" in serve.text(), "the scheduler had stopped and released its leadership already"
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 128 + signal.SIGTERM
    assert "second stop signal (SIGTERM): exiting now" in serve.text()


def test_a_signal_during_start_up_exits_before_contending(tmp_path, cleanup):
    serve = Serve(tmp_path, hang_in="startup")
    cleanup.append(serve)
    serve.logged("start-up hook hanging")
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0, serve.text()[-3000:]
    assert "SIGTERM received during start-up: stopped before contending for leadership" in serve.text()
    with Store(serve.db) as store:
        assert store.current_epoch() == 0 and store.leader() is None, "it never claimed the leadership"
