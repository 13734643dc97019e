"""Plugins add template folders in front of the built-in ones (moroccron_ui_template_dirs):
a plugin's template replaces the built-in one of the same name, can extend it, and a new
page's template uses the built-in layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.hooks import hookimpl
from moroccron.hooks.manager import PluginError, PluginManager
from moroccron.ui.pages import Page, PageRoute


class TemplatePlugin:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def moroccron_ui_template_dirs(self) -> list[Path]:
        return [self.folder]


def _app(store, *plugins: object) -> TestClient:
    pm = PluginManager(load_entrypoints=False)
    for i, plugin in enumerate(plugins):
        pm.register(plugin, f"templates-{i}")
    app = create_app(AppContext(Settings(), store, pm))
    return TestClient(app)


def test_a_plugin_template_replaces_the_built_in_one(store, tmp_path: Path) -> None:
    (tmp_path / "error.html").write_text(
        '{% extends "base.html" %}{% block main %}<p id="plugin-error">lost: {{ error }}</p>{% endblock %}'
    )
    client = _app(store, TemplatePlugin(tmp_path))
    page = client.get("/jobs/no-such-job")
    assert page.status_code == 404
    assert '<p id="plugin-error">lost: job &#39;no-such-job&#39; not found</p>' in page.text
    assert "Not found" not in page.text  # the built-in error page's heading
    # the rest of the UI keeps its built-in templates and layout
    jobs = client.get("/jobs")
    assert jobs.status_code == 200 and "<title>" in jobs.text and "plugin-error" not in jobs.text


def test_a_replacement_can_extend_the_template_it_replaces(store, tmp_path: Path) -> None:
    (tmp_path / "error.html").write_text(
        '{% extends "moroccron/error.html" %}{% block title %}oh no {{ error_code }}{% endblock %}'
    )
    page = _app(store, TemplatePlugin(tmp_path)).get("/jobs/no-such-job")
    assert page.status_code == 404
    assert "<title>oh no 404 · moroccron</title>" in page.text
    assert "Not found" in page.text  # the built-in page's body, kept


def test_a_new_page_template_loads_with_the_built_in_layout(store, tmp_path: Path) -> None:
    (tmp_path / "hello.html").write_text(
        '{% extends "base.html" %}{% block title %}hello{% endblock %}'
        '{% block main %}<p id="hello">hello {{ who }}, {{ "<b>" }}</p>{% endblock %}'
    )
    client = _app(store, TemplatePlugin(tmp_path))
    router = APIRouter(include_in_schema=False, route_class=PageRoute)

    @router.get("/hello")
    def hello(request: Request) -> HTMLResponse:
        return Page(request).render("hello.html", who="plugin")

    client.app.include_router(router)
    page = client.get("/hello")
    assert page.status_code == 200
    assert '<p id="hello">hello plugin, &lt;b&gt;</p>' in page.text  # autoescaped
    assert "<title>hello · moroccron</title>" in page.text
    assert 'href="/jobs"' in page.text  # base.html's navigation


def test_the_first_plugin_called_wins_and_a_missing_folder_stops_start_up(store, tmp_path: Path) -> None:
    older, newer = tmp_path / "older", tmp_path / "newer"
    for folder, text in ((older, "older"), (newer, "newer")):
        folder.mkdir()
        (folder / "error.html").write_text(text)
    # pluggy calls the most recently registered plugin first
    assert _app(store, TemplatePlugin(older), TemplatePlugin(newer)).get("/jobs/x").text == "newer"
    with pytest.raises(PluginError, match="is not a folder"):
        _app(store, TemplatePlugin(tmp_path / "missing"))
