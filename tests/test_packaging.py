"""The four distributions as the index would get them, installed the way a user installs them.

``make dist`` builds the sdist and wheel of the core and of each plugin into a temporary
directory; the wheels are installed (not editable) into a fresh virtualenv with the
versions of constraints.txt, and the installed ``moroccron`` is run from outside the
repository: --version, db upgrade, plugins, and serve with its local master answering
/healthz, the UI and its static files. The metadata the index shows (version, license,
URLs, READMEs whose links work there) is checked on the built files.
"""

from __future__ import annotations

import email.parser
import fnmatch
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import moroccron
from tests.e2e.harness import wait_for
from tests.servers import free_port, stop_process

# building and installing four distributions from the index takes minutes on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = {  # distribution -> (source folder, import package)
    "moroccron": (ROOT, "moroccron"),
    "moroccron-email": (ROOT / "plugins" / "email", "moroccron_email"),
    "moroccron-pagerduty": (ROOT / "plugins" / "pagerduty", "moroccron_pagerduty"),
    "moroccron-slack": (ROOT / "plugins" / "slack", "moroccron_slack"),
}
PROJECT_URL = "https://github.com/moroccron/moroccron"
URL_KINDS = ("Homepage", "Documentation", "Source", "Issues", "Changelog")


def _run(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would let the repository's code be imported."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("MOROCCRON_")
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # -o: the venv is what runs this test; make must not reinstall it mid-run
    _run(["make", "-o", ".venv/.installed", "dist", f"DIST_DIR={out}", f"PY={sys.executable}"], cwd=ROOT, timeout=900)
    return out


def _wheel(dist: Path, package: str) -> Path:
    (wheel,) = dist.glob(f"{package}-*-py3-none-any.whl")
    return wheel


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(z.read(name).decode())


def test_make_dist_builds_an_sdist_and_a_wheel_of_each_distribution(dist: Path) -> None:
    built = sorted(p.name for p in dist.iterdir())
    for _name, (_src, package) in PROJECTS.items():
        version = _version_of(package)
        assert f"{package}-{version}-py3-none-any.whl" in built
        assert f"{package}-{version}.tar.gz" in built
    assert len(built) == 8, built


def _version_of(package: str) -> str:
    src = PROJECTS[package.replace("_", "-")][0]
    init = src / package / "__init__.py" if package == "moroccron" else src / "src" / package / "__init__.py"
    (version,) = re.findall(r'^__version__ = "([^"]+)"$', init.read_text(), flags=re.M)
    return version


def test_versions_are_written_once_and_metadata_is_complete(dist: Path) -> None:
    for name, (src, package) in PROJECTS.items():
        project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
        assert "version" not in project and project["dynamic"] == ["version"], name
        meta = _metadata(_wheel(dist, package))
        assert meta["Name"] == name and meta["Version"] == _version_of(package)
        assert meta["License-Expression"] == "Apache-2.0"
        assert meta.get_all("License-File") == ["LICENSE"]
        urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
        assert set(urls) == set(URL_KINDS), name
        assert all(u.startswith(PROJECT_URL) for u in urls.values()), urls
        classifiers = meta.get_all("Classifier")
        assert "Programming Language :: Python :: 3.11" in classifiers and "Typing :: Typed" in classifiers
        assert meta["Keywords"] and meta["Requires-Python"] == ">=3.11"
        # the README is the long description, and its relative links would break on the index
        readme = meta.get_payload()
        assert readme.strip() and meta["Description-Content-Type"] == "text/markdown"
        relative = re.findall(r"\]\((?!https?://|#|mailto:)([^)]+)\)", readme)
        assert not relative, f"{name}: README links that do not work on the index: {relative}"
        plugin_dep = [r for r in meta.get_all("Requires-Dist") or () if r.startswith("moroccron")]
        if name != "moroccron":
            assert plugin_dep == ["moroccron>=0.1"], plugin_dep


def test_the_license_is_in_every_distribution(dist: Path) -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    for _name, (src, package) in PROJECTS.items():
        assert (src / "LICENSE").read_text() == text
        with zipfile.ZipFile(_wheel(dist, package)) as z:
            (lic,) = [n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
            assert z.read(lic).decode() == text
        (sdist,) = dist.glob(f"{package}-*.tar.gz")
        with tarfile.open(sdist) as t:
            assert any(m.name.endswith("/LICENSE") for m in t.getmembers()), sdist.name


def test_the_core_wheel_carries_migrations_templates_static_files_and_py_typed(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist, "moroccron")) as z:
        names = set(z.namelist())
    assert "moroccron/py.typed" in names
    assert "moroccron/migrations/env.py" in names
    assert any(re.fullmatch(r"moroccron/migrations/versions/\w+\.py", n) for n in names)
    for source in (ROOT / "moroccron" / "ui").rglob("*"):
        rel = source.relative_to(ROOT).as_posix()
        if source.is_file() and ("/templates/" in rel or "/static/" in rel):
            assert rel in names, f"{rel} is not in the wheel"
    for source in (ROOT / "moroccron" / "templates").rglob("*"):
        if source.is_file():
            assert source.relative_to(ROOT).as_posix() in names
    for package in ("moroccron_email", "moroccron_pagerduty", "moroccron_slack"):
        with zipfile.ZipFile(_wheel(dist, package)) as z:
            assert f"{package}/py.typed" in z.namelist()


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", str(where)], cwd=where.parent)
    wheels = [str(_wheel(dist, package)) for _src, package in PROJECTS.values()]
    # non-editable, from the built wheels, dependencies within the versions the suite passed with
    _run(
        [
            str(where / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            *wheels,
        ],
        cwd=where.parent,
        env=_clean_env(),
        timeout=900,
    )
    return where


def test_the_installed_commands_work_outside_the_repository(venv: Path, tmp_path: Path) -> None:
    bin_ = venv / "bin"
    env = _clean_env(MOROCCRON_DB=f"sqlite:///{tmp_path / 'cli.db'}")
    where = _run(
        [
            str(bin_ / "python"),
            "-c",
            "import moroccron, moroccron_slack; print(moroccron.__file__); print(moroccron_slack.__file__)",
        ],
        cwd=tmp_path,
        env=env,
    )
    for path in where.stdout.split():
        assert Path(path).is_relative_to(venv), f"imported from {path}, not from the virtualenv"

    version = _run([str(bin_ / "moroccron"), "--version"], cwd=tmp_path, env=env)
    assert version.stdout.strip() == f"moroccron {moroccron.__version__}"

    upgraded = _run([str(bin_ / "moroccron"), "db", "upgrade"], cwd=tmp_path, env=env)
    assert "empty ->" in upgraded.stdout, upgraded.stdout
    current = _run([str(bin_ / "moroccron"), "db", "current"], cwd=tmp_path, env=env)
    assert current.stdout.strip() and "empty" not in current.stdout

    plugins = _run([str(bin_ / "moroccron"), "plugins"], cwd=tmp_path, env=env)
    listed = {line.split()[0]: line for line in plugins.stdout.splitlines()[1:] if line.strip()}
    for name, dist_name in (
        ("email", "moroccron-email"),
        ("pagerduty", "moroccron-pagerduty"),
        ("slack", "moroccron-slack"),
    ):
        assert name in listed and dist_name in listed[name], plugins.stdout


@pytest.fixture
def served(venv: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = _clean_env(
        MOROCCRON_DB=f"sqlite:///{tmp_path / 'serve.db'}", MOROCCRON_LOCAL_WORK_DIR=str(tmp_path / "mesos")
    )
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(venv / "bin" / "moroccron"), "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, 90, 0.2, what="the installed moroccron serve to answer /healthz")
        yield url, proc
    finally:
        stopped = stop_process(proc)
        log.close()
    assert stopped, "serve did not stop within 20 s of SIGTERM"
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()


def test_the_installed_serve_answers_the_api_and_the_ui_with_its_static_files(served: tuple[str, object]) -> None:
    url, _proc = served
    status = wait_for(
        lambda: (s := requests.get(f"{url}/api/v1/status", timeout=5).json())["connected"] and s,
        60,
        0.2,
        what="the local master to be subscribed to",
    )
    assert status["leader"] is True
    page = requests.get(f"{url}/jobs", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', page.text)
    assert {"/ui/static/app.css", "/ui/static/app.js"} <= set(assets), assets
    for asset in assets:
        answer = requests.get(url + asset, timeout=10)
        assert answer.status_code == 200 and answer.content, asset
    assert "text/css" in requests.get(f"{url}/ui/static/app.css", timeout=10).headers["content-type"]
    docs = requests.get(f"{url}/docs", timeout=10)  # Swagger UI from installed files, no CDN
    assert docs.status_code == 200


def test_the_images_healthcheck_passes_against_the_installed_serve(
    served: tuple[str, object], venv: Path, tmp_path: Path
) -> None:
    url, _proc = served
    command = json.loads(_instructions("HEALTHCHECK")[0].split("CMD", 1)[1])
    assert command[0] == "python"
    env = _clean_env(MOROCCRON_BIND="0.0.0.0:" + url.rpartition(":")[2])
    checked = subprocess.run(
        [str(venv / "bin" / "python"), *command[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    env["MOROCCRON_BIND"] = f"0.0.0.0:{free_port()}"  # nothing there: the check must fail
    assert (
        subprocess.run(
            [str(venv / "bin" / "python"), *command[1:]], cwd=tmp_path, env=env, capture_output=True, timeout=60
        ).returncode
        != 0
    )


# --------------------------------------------------------------------------- the Dockerfile
# docker is not needed to run the suite: the Dockerfile is read as docker reads it.


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _instructions(name: str, stage: int = -1) -> list[str]:
    stages: list[list[tuple[str, str]]] = []
    for word, rest in _dockerfile():
        if word == "FROM":
            stages.append([])
        stages[-1].append((word, rest))
    return [rest for word, rest in stages[stage] if word == name]


def _ignored(path: str) -> bool:
    patterns = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatch(prefix.split("/")[-1], pattern[3:])
            ):
                return True
    return False


def test_the_dockerfile_builds_from_python_slim_and_runs_serve_unprivileged() -> None:
    froms = [rest for word, rest in _dockerfile() if word == "FROM"]
    assert froms and all(f.split()[0] == "python:3.11-slim" for f in froms), froms
    steps = _dockerfile()
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]  # the image that runs
    users = [i for i, (w, _) in enumerate(final) if w == "USER"]
    assert users, "the image runs as root"
    user = final[users[-1]][1].split(":")[0]
    assert user not in ("root", "0"), user
    assert all(i < users[-1] for i, (w, _) in enumerate(final) if w == "RUN"), "a RUN after USER runs as that user"
    assert _instructions("RUN") and any("useradd" in r and user in r for r in _instructions("RUN"))
    assert _instructions("EXPOSE") == ["4400"]
    (health,) = _instructions("HEALTHCHECK")
    assert "/healthz" in health and "CMD" in health
    (cmd,) = _instructions("CMD")
    assert json.loads(cmd) == ["moroccron", "serve"]
    assert not _instructions("ENTRYPOINT"), "Marathon's cmd must be able to replace the command"
    env = " ".join(_instructions("ENV"))
    assert "MOROCCRON_DB=" in env and "MOROCCRON_BIND=0.0.0.0:4400" in env


def test_the_dockerfile_copies_files_that_exist_and_are_not_ignored() -> None:
    copied = 0
    for word, rest in _dockerfile():
        if word != "COPY" or "--from=" in rest:
            continue
        *sources, _dest = rest.split()
        for source in sources:
            copied += 1
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"
    assert copied >= 4
    assert _ignored(".venv") and _ignored("moroccron/__pycache__") and _ignored("plugins/email/tests")
    # the build stage builds the same distributions as make dist
    (build,) = [r for r in _instructions("RUN", 0) if "python -m build" in r]
    plugins = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "plugins").glob("*/pyproject.toml")}
    assert plugins and all(p in build for p in plugins), build
    assert any("/wheels/*.whl" in r and "constraints" in r for r in _instructions("RUN"))


def test_deployment_docs_explain_building_and_running_the_image() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text.split("## Container image", 1)[1].split("\n## ", 1)[0]
    for needed in ("docker build", "MOROCCRON_DB", "MOROCCRON_CONFIG", "4400", "/healthz", "HEALTHCHECK"):
        assert needed in section, needed
