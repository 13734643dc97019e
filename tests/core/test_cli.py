"""The moroccron command: plugins, local-mesos, errors and exit codes."""

from __future__ import annotations

import subprocess
import sys
import time

import requests

from moroccron.cli import main
from tests.servers import free_port


def test_plugins_lists_builtins_and_blocked(monkeypatch, capsys, tmp_path):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["plugins", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "packing" in out and "moroccron_pack_offers" in out and "builtin" in out
    monkeypatch.setenv("MOROCCRON_DISABLE_PLUGINS", "packing")
    assert main(["plugins", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "moroccron_pack_offers" not in out and "blocked: packing" in out


def test_unreachable_database_is_a_clear_error(capsys):
    port = free_port()
    code = main(["jobs", "list", "--db", f"postgresql://nobody@127.0.0.1:{port}/x"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("moroccron: error: database:") and "Traceback" not in err


def test_usage_error_exits_2(capsys):
    try:
        main(["jobs", "frobnicate"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_db_upgrade_and_current(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["db", "upgrade", "--db", db]) == 0
    assert "empty ->" in capsys.readouterr().out
    assert main(["db", "current", "--db", db]) == 0
    assert capsys.readouterr().out.strip() not in ("", "base (empty)")


def test_local_mesos_command_serves_the_v1_api(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moroccron.cli",
            "local-mesos",
            "--bind",
            f"127.0.0.1:{port}",
            "--agents",
            "2",
            "--work-dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                state = requests.get(f"http://127.0.0.1:{port}/master/state", timeout=1).json()
                break
            except requests.RequestException:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert len(state["slaves"] if "slaves" in state else state["agents"]) == 2
        version = requests.get(f"http://127.0.0.1:{port}/version", timeout=2).json()
        assert version["version"].startswith("1.")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_owners_set_list_mute_and_delete(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["owners", "set", "ops@example.com", "--name", "Ops", "--slack", "#ops", "--db", db]) == 0
    assert "created owner ops@example.com" in capsys.readouterr().out
    assert (
        main(
            [
                "owners",
                "set",
                "ops@example.com",
                "--pref",
                "failure=slack",
                "--mute-until",
                "2030-01-01T00:00:00Z",
                "--db",
                db,
            ]
        )
        == 0
    )
    assert main(["owners", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "ops@example.com" in out and "#ops" in out and "2030-01-01 00:00:00 UTC" in out and "slack" in out
    assert main(["owners", "set", "ops@example.com", "--pref", "failure=fax", "--db", db]) == 1
    assert "preferences.failure" in capsys.readouterr().err
    assert main(["owners", "set", "ops@example.com", "--pref", "nonsense", "--db", db]) == 2
    assert main(["owners", "delete", "ops@example.com", "--db", db]) == 0
    assert main(["owners", "delete", "ops@example.com", "--db", db]) == 1


def test_auth_hash_prints_a_verifiable_hash(capsys):
    from moroccron.auth import verify_secret

    assert main(["auth", "hash", "tok-123"]) == 0
    stored = capsys.readouterr().out.strip()
    assert stored.startswith("pbkdf2_sha256$") and verify_secret("tok-123", stored)


def test_commands_other_than_serve_and_db_log_only_warnings_unless_verbose(tmp_path):
    db = f"sqlite:///{tmp_path / 'm.db'}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "moroccron.cli", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

    listed = cli("jobs", "list", "--db", db)  # migrates a new database: alembic says so at INFO
    assert listed.returncode == 0 and listed.stdout.startswith("NAME")
    assert listed.stderr == "", "no log lines by default"
    verbose = cli("-v", "jobs", "list", "--db", db)
    assert verbose.returncode == 0 and "INFO alembic.runtime.migration" in verbose.stderr, "-v: the log is back"
    upgraded = cli("db", "upgrade", "--db", f"sqlite:///{tmp_path / 'other.db'}")
    assert upgraded.returncode == 0
    assert "Running upgrade" in upgraded.stderr, "db upgrade reports the migrations it runs"
    assert "setup plugin" not in upgraded.stderr, "alembic's own set-up is not news"
