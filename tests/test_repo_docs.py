"""The READMEs and docs as readers meet them: links that resolve, samples that are accepted.

- The core and plugin READMEs are the long descriptions shown on the package index,
  where a relative link breaks: their links into the repository are absolute, under the
  one project URL, and each names a file that exists.
- The README links every page of docs/; links between docs pages name existing files.
- Every TOML sample in a plugin README passes that plugin's own start-up validation, so
  an operator who copies one is not refused.
- Nothing tracked is also ignored by .gitignore.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import certifi
import pytest

from moroccron.config import load_settings
from moroccron_email._settings import read_settings as email_settings
from moroccron_pagerduty._settings import read_settings as pagerduty_settings
from moroccron_slack._settings import read_settings as slack_settings

ROOT = Path(__file__).resolve().parent.parent
PROJECT_URL = "https://github.com/moroccron/moroccron"
INDEX_READMES = [ROOT / "README.md", *sorted((ROOT / "plugins").glob("*/README.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # not code samples
    return LINK.findall(text)


def _repo_path(url: str) -> str | None:
    """The repository path an absolute link names, or None for a link elsewhere."""
    m = re.fullmatch(re.escape(PROJECT_URL) + r"/(?:blob|tree)/main/([^#?]+)(?:#.*)?", url)
    return m.group(1) if m else None


@pytest.mark.parametrize("readme", INDEX_READMES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_readmes_shown_on_the_index_link_absolutely_to_files_that_exist(readme: Path) -> None:
    for url in _links(readme):
        assert url.startswith(("https://", "http://", "mailto:", "#")), (
            f"{readme.relative_to(ROOT)}: relative link {url!r} breaks on the package index"
        )
        if "github.com/moroccron" in url and url.rstrip("/") != PROJECT_URL and "/issues" not in url:
            path = _repo_path(url)
            assert path is not None, f"{url!r} is not under {PROJECT_URL}/blob/main/"
            assert (ROOT / path).exists(), f"{readme.relative_to(ROOT)} links {path}, which is not in the repository"


def test_the_readme_links_every_docs_page() -> None:
    linked = {_repo_path(u) for u in _links(ROOT / "README.md")}
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in linked, f"README.md does not link docs/{page.name}"
    assert "LICENSE" in linked


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_links_between_docs_pages_name_existing_files(page: Path) -> None:
    for url in _links(page):
        if url.startswith(("https://", "http://", "mailto:", "#")):
            if (path := _repo_path(url)) is not None:
                assert (ROOT / path).exists(), f"{page.name} links {path}, which is not in the repository"
            continue
        target = (page.parent / url.split("#", 1)[0]).resolve()
        assert target.exists(), f"{page.name} links {url}, which is not in the repository"


def _toml_samples(plugin: str) -> list[str]:
    text = (ROOT / "plugins" / plugin / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


SAMPLES = [(plugin, i) for plugin in ("email", "pagerduty", "slack") for i in range(len(_toml_samples(plugin)))]


def test_each_plugin_readme_has_config_samples() -> None:
    assert {p for p, _ in SAMPLES} == {"email", "pagerduty", "slack"}


@pytest.mark.parametrize("plugin,index", SAMPLES)
def test_every_plugin_readme_config_sample_passes_the_plugins_validation(
    plugin: str, index: int, tmp_path: Path
) -> None:
    sample = _toml_samples(plugin)[index]
    # The one value naming a file of the operator's machine: a real CA bundle stands in for it.
    sample = sample.replace("/etc/moroccron/corp-ca.pem", certifi.where())
    config = tmp_path / "moroccron.toml"
    config.write_text(sample)
    settings = load_settings(config_file=config, environ={})
    result: Any
    if plugin == "email":
        # the README's advice: with a username, the password comes from the environment
        environ = {"MOROCCRON_SMTP_PASSWORD": "from-the-environment"} if "username" in sample else {}
        result = email_settings(settings.plugin_settings("email"), environ)
    elif plugin == "pagerduty":
        result = pagerduty_settings(settings, {})
        assert result is not None and set(result.services) == set(settings.plugin_settings("pagerduty")["services"])
    else:
        result = slack_settings(settings, {})
    assert result is not None, f"the sample leaves the {plugin} plugin switched off:\n{sample}"


def test_nothing_tracked_is_also_ignored() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-ci", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "", f"tracked but listed in .gitignore: {listed.stdout.split()}"


@pytest.mark.parametrize(
    "page", [*INDEX_READMES, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_every_document_a_page_mentions_is_in_the_repository(page: Path) -> None:
    """Not only links: a page that says "see DESIGN.md" sends readers to a file that must exist."""
    text = re.sub(re.escape(PROJECT_URL) + r"/(?:blob|tree)/main/", "", page.read_text(encoding="utf-8"))
    text = re.sub(r"https?://\S+", "", text)  # other sites' pages
    for name in set(re.findall(r"(?<![\w/.*-])([\w./*-]+\.md)\b", text)):
        if "*" in name:  # a pattern, such as plugins/*/README.md
            assert any(ROOT.glob(name)), f"{page.relative_to(ROOT)} mentions {name}, which matches nothing"
            continue
        candidates = [page.parent / name, ROOT / name, ROOT / "docs" / name]
        assert any(c.is_file() for c in candidates), f"{page.relative_to(ROOT)} mentions {name}, which is not here"
