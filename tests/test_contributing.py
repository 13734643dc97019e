"""What a contributor relies on: the checks `make test` runs, the commit hooks, CONTRIBUTING.md
and a changelog per distribution.

- `make test` runs ruff (lint and the format check) and mypy before the tests;
  `make typecheck` runs mypy.
- The mypy configuration checks the core strictly, module by module (`strict = true` in
  an override would apply to every module: mypy reads it as a global option).
- The commit hooks are local and run the tools of the venv, so nothing is downloaded.
- Every file CONTRIBUTING.md names exists; each distribution has a CHANGELOG.md, and its
  package metadata links that one.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT_URL = "https://github.com/moroccron/moroccron"
DISTRIBUTIONS = [ROOT, *sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))]
STRICT_CORE = {
    "moroccron.engine",
    "moroccron.model",
    "moroccron.events",
    "moroccron.schedule",
    "moroccron.schedule.*",
    "moroccron.dag",
    "moroccron.hooks.*",
    "moroccron.store.interfaces",
}


def _make_dry_run(target: str) -> list[str]:
    """The commands `make -n target` would run, the venv taken as installed."""
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "-o", "system-deps", "-o", ".venv/.apt", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_make_test_runs_lint_and_typecheck_before_pytest() -> None:
    commands = _make_dry_run("test")
    lint = next(i for i, c in enumerate(commands) if "ruff check" in c)
    mypy = next(i for i, c in enumerate(commands) if c.strip().endswith("bin/mypy"))
    pytest_at = next(i for i, c in enumerate(commands) if "-m pytest" in c)
    assert lint < pytest_at and mypy < pytest_at


def test_make_typecheck_runs_mypy_and_lint_checks_the_format() -> None:
    assert any(c.strip().endswith("bin/mypy") for c in _make_dry_run("typecheck"))
    assert any("ruff format --check" in c for c in _make_dry_run("lint"))
    makefile = (ROOT / "Makefile").read_text()
    paths = re.search(r"^FORMAT_PATHS := \$\(wildcard (.*)\)$", makefile, re.M)
    assert paths is not None and set(paths.group(1).split()) == {"moroccron", "tests", "plugins", "bench", "examples"}


def test_mypy_checks_the_core_strictly_module_by_module() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] == ["moroccron"]
    assert "strict" not in config
    overrides = config["overrides"]
    assert all("strict" not in o for o in overrides)
    core = next(o for o in overrides if "moroccron.engine" in o["module"])
    assert set(core["module"]) == STRICT_CORE
    for flag in (
        "disallow_untyped_defs",
        "disallow_any_generics",
        "warn_return_any",
        "disallow_untyped_calls",
        "check_untyped_defs",
        "strict_equality",
        "no_implicit_reexport",
    ):
        assert core[flag] is True, flag


def test_mypy_and_its_stubs_are_pinned_and_in_the_test_extra() -> None:
    pins = dict(
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert "mypy" in pins and "types-requests" in pins
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert {re.split(r"[<>=]", r)[0] for r in extra} >= {"mypy", "types-requests"}


def test_the_commit_hooks_are_local_and_run_the_venvs_tools() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy"}
    venv_bin = Path(sys.executable).parent
    for hook in hooks.values():
        assert hook["language"] == "system"
        program = hook["entry"].split()[0]
        assert program.startswith(".venv/bin/"), program
        assert (venv_bin / Path(program).name).exists(), f"{program} is not installed by make venv"
    assert hooks["mypy"]["pass_filenames"] is False  # the whole package, as make typecheck


def test_every_file_contributing_names_exists() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    named = set(re.findall(r"\]\(([^)#\s]+)\)", text))
    named |= {
        p for p in re.findall(r"`([\w./-]+)`", text) if p.startswith(("moroccron/", "tests/", "plugins/", "docs/"))
    }
    assert len(named) > 10
    missing = [p for p in sorted(named) if not p.startswith("http") and not (ROOT / p).exists()]
    assert missing == []


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda p: p.name if p != ROOT else "moroccron")
def test_each_distribution_has_a_changelog_that_its_metadata_links(dist: Path) -> None:
    changelog = dist / "CHANGELOG.md"
    text = changelog.read_text()
    assert text.startswith("# Changelog\n")
    assert "\n## Unreleased\n" in text and "\n## 0.1.0\n" in text
    url = tomllib.loads((dist / "pyproject.toml").read_text())["project"]["urls"]["Changelog"]
    assert url == f"{PROJECT_URL}/blob/main/{changelog.relative_to(ROOT).as_posix()}"
