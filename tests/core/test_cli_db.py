"""`moroccron db` and `serve` against schemas they cannot use, downgrade confirmation,
a port already in use, and a scheduler that cannot be reached: one error line each."""

from __future__ import annotations

import io
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from moroccron.cli import main
from moroccron.store import Store
from tests.servers import free_port


def _cli(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moroccron.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("moroccron: error: ") and "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def newer_db(tmp_path: Path) -> str:
    """A database that a newer moroccron migrated: its revision is unknown here."""
    path = tmp_path / "newer.db"
    store = Store(f"sqlite:///{path}")
    store.ensure_schema()
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    return f"sqlite:///{path}"


def test_schema_newer_than_the_code_is_one_error_line(tmp_path, newer_db):
    for args in (("db", "upgrade"), ("jobs", "list"), ("db", "downgrade", "base", "--yes")):
        done = _cli(tmp_path, *args, "--db", newer_db)
        assert done.returncode == 1, (args, done.stderr)
        line = _one_error_line(done.stderr)
        assert "'0099_from_the_future'" in line and "newer moroccron" in line, line
    current = _cli(tmp_path, "db", "current", "--db", newer_db)
    assert current.returncode == 0 and current.stdout.strip() == "0099_from_the_future"


def test_serve_against_a_newer_schema_is_one_error_line(tmp_path, newer_db):
    done = _cli(tmp_path, "serve", "--db", newer_db, "--bind", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "newer moroccron" in errors[0], done.stderr
    assert "Traceback" not in done.stderr and "API and UI on" not in done.stderr


def test_upgrade_to_an_unknown_revision_is_one_error_line(tmp_path):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    done = _cli(tmp_path, "db", "upgrade", "9999", "--db", db)
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "unknown schema revision '9999'" in line and "base, 0001" in line, line
    head = Store(db).head_revision()
    assert head in line


def test_downgrade_without_a_terminal_and_without_yes_refuses(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["db", "upgrade", "--db", db]) == 0
    head = Store(db).current_revision()
    capsys.readouterr()
    done = _cli(tmp_path, "db", "downgrade", "base", "--db", db, stdin="y\n")  # a pipe, not a terminal
    assert done.returncode == 1
    assert "not a terminal" in _one_error_line(done.stderr) and "--yes" in done.stderr
    assert Store(db).current_revision() == head, "nothing was dropped"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_downgrade_asks_and_does_nothing_unless_told_yes(tmp_path, capsys, monkeypatch):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["db", "upgrade", "--db", db]) == 0
    head = Store(db).current_revision()
    capsys.readouterr()

    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    assert main(["db", "downgrade", "base", "--db", db]) == 1
    err = capsys.readouterr().err
    assert f"from {head} to base?" in err and "is deleted" in err and "0001" in err, err
    assert "not confirmed, nothing was changed" in err
    assert Store(db).current_revision() == head

    monkeypatch.setattr(sys, "stdin", _Terminal("yes\n"))
    assert main(["db", "downgrade", "0005", "--db", db]) == 0
    err = capsys.readouterr().err
    assert "0006" in err and "0007" in err and "  0005" not in err, "it lists the revisions it undoes"
    assert Store(db).current_revision() == "0005"

    assert main(["db", "downgrade", "base", "--db", db, "--yes"]) == 0
    assert "now at base (empty)" in capsys.readouterr().out
    assert Store(db).current_revision() is None


def test_downgrade_to_a_revision_above_the_current_is_refused(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["db", "upgrade", "0003", "--db", db]) == 0
    capsys.readouterr()
    assert main(["db", "downgrade", "0005", "--db", db, "--yes"]) == 1
    assert "not above it" in capsys.readouterr().err
    assert Store(db).current_revision() == "0003"


def test_serve_on_a_port_in_use_is_one_error_line_and_never_announces_the_address(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _cli(tmp_path, "serve", "--db", f"sqlite:///{tmp_path / 'm.db'}", "--bind", f"127.0.0.1:{port}")
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "address already in use" in line and f"127.0.0.1:{port}" in line
    assert "API and UI on" not in done.stdout + done.stderr
    assert not (tmp_path / "m.db").exists(), "nothing was touched before the port was bound"


def test_an_unreachable_scheduler_is_one_error_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    for args in (
        ("run", "job"),
        ("run", "job", "--wait"),
        ("jobs", "runs", "job"),
        ("runs", "kill", "t"),
        ("jobs", "logs", "job"),
        ("jobs", "disable", "job"),
    ):
        done = _cli(tmp_path, *args, "--api", url)
        assert done.returncode == 1, (args, done.stderr)
        line = _one_error_line(done.stderr)
        assert f"cannot reach the scheduler at {url}" in line and "Connection refused" in line, line
        assert "urllib3" not in done.stderr
