"""The UI in a real browser: Debian's Chromium driven by Playwright, against a real
``moroccron serve`` process (its in-process local Mesos master, SQLite, authentication).

A screenshot of every page lands in build/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import requests

from tests.e2e.harness import wait_for
from tests.servers import unavailable
from tests.ui.serving import serve_ui

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("MOROCCRON_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_ui(tmp_path_factory.mktemp("ui-server"), "ops:opspw:admin,viewer:look:read", ("ops", "opspw"))


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(browser, url: str, user: str, password: str):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(20_000)
    page.goto(f"{url}/jobs")
    assert "/login" in page.url, "pages need a login"
    shot(page, "login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/jobs$"))
    return page


def create_job(page, url: str, **fields: str) -> None:
    page.goto(f"{url}/new-job")
    for name, value in fields.items():
        page.fill(f"#f-{name}", value)
    page.click("button.primary")


def test_create_a_job_watch_it_run_and_read_its_log(server, browser):
    page = log_in(browser, server, "ops", "opspw")
    shot(page, "jobs-empty")
    create_job(
        page,
        server,
        name="hello-ui",
        command="echo hello-ui",
        schedule="*/3 * * * * *",
        description="says hello every 3 seconds",
        labels="team=ui",
    )
    page.wait_for_url(re.compile(r".*/jobs/hello-ui\?msg=.*"))
    assert "created" in page.inner_text(".banner.info")
    # no reload from here: the runs section updates itself
    page.evaluate("window.sameDocument = true")
    seen = page.locator('#runs tr[data-state="succeeded"]').count()
    # Arrow functions: a bare expression would be run through eval, which the page's CSP forbids.
    page.wait_for_function(
        f"() => document.querySelectorAll('#runs tr[data-state=\"succeeded\"]').length > {seen}", timeout=30_000
    )
    assert page.evaluate("window.sameDocument === true"), "the page was not reloaded"
    assert page.locator("figure.chart rect.bar.succeeded").count() >= 1
    shot(page, "job")
    page.click('#runs tr[data-state="succeeded"] >> text=stdout')
    page.wait_for_url(re.compile(r".*/log\?stream=stdout"))
    assert "hello-ui" in page.inner_text("#log")
    shot(page, "log")
    page.goto(f"{server}/jobs")
    row = page.locator('tr[data-job="hello-ui"]')
    assert "every 3 seconds" in row.inner_text()
    row.locator('[data-outcome="succeeded"]').wait_for(timeout=20_000)
    # the rows refresh themselves: a new run shows up without a reload
    before = page.evaluate("document.querySelector('#jobs').dataset.refreshed || ''")
    page.wait_for_function(
        f"() => (document.querySelector('#jobs').dataset.refreshed || '') !== '{before}'", timeout=20_000
    )
    shot(page, "jobs")
    page.fill("input[name=label]", "team=nobody")
    page.click("button:has-text('Filter')")
    page.wait_for_selector("td.empty")
    page.fill("input[name=label]", "team=ui")
    page.click("button:has-text('Filter')")
    page.wait_for_selector('tr[data-job="hello-ui"]')
    page.close()


def test_a_bad_cron_expression_is_shown_next_to_its_field(server, browser):
    page = log_in(browser, server, "ops", "opspw")
    create_job(page, server, name="bad-cron", command="true", schedule="61 * * * *")
    error = page.locator("#err-schedule")
    assert "minute" in error.inner_text() and "0-59" in error.inner_text()
    assert page.input_value("#f-schedule") == "61 * * * *", "what was typed is kept"
    assert page.locator(".field.invalid #f-schedule").count() == 1
    shot(page, "form-error")
    page.close()


def test_a_failing_parent_highlights_the_subtree_waiting_on_it(server, browser):
    page = log_in(browser, server, "ops", "opspw")
    create_job(
        page,
        server,
        name="etl-extract",
        command="echo extracting; exit 1",
        schedule="*/3 * * * * *",
        owners="data@example.com",
    )
    page.wait_for_url(re.compile(r".*/jobs/etl-extract.*"))
    create_job(page, server, name="etl-load", command="echo load", schedule="", parents="etl-extract")
    page.wait_for_url(re.compile(r".*/jobs/etl-load.*"))
    create_job(page, server, name="etl-report", command="echo report", schedule="", parents="etl-load")
    page.wait_for_url(re.compile(r".*/jobs/etl-report.*"))
    page.goto(f"{server}/jobs/etl-extract")
    page.wait_for_selector('#runs tr[data-state="failed"]', timeout=30_000)
    page.goto(f"{server}/graph")
    page.wait_for_selector('g.node.failed[data-job="etl-extract"]')
    assert page.locator('g.node.waiting[data-job="etl-load"]').count() == 1
    assert page.locator('g.node.waiting[data-job="etl-report"]').count() == 1
    assert page.locator('g.node.waiting[data-job="etl-extract"]').count() == 0
    assert "etl-load" in page.inner_text(".banner.warn")
    shot(page, "graph")
    page.goto(f"{server}/graph?job=etl-extract")
    assert page.locator("g.node").count() == 3
    shot(page, "graph-subtree")
    page.close()


def test_owners_and_cluster_pages(server, browser):
    for owner in (
        {
            "name": "Data on-call",
            "slack": "#data-alerts",
            "preferences": {"failure": ["email", "slack"], "recovery": ["slack"], "success": []},
        },
        {"name": "Web team", "mute_until": "2030-01-01T08:00:00Z"},
    ):
        oid = "data@example.com" if "slack" in owner else "web@example.com"
        r = requests.put(f"{server}/api/v1/owners/{oid}", json=owner, auth=("ops", "opspw"), timeout=10)
        assert r.status_code in (200, 201), r.text
    page = log_in(browser, server, "ops", "opspw")
    page.wait_for_selector('tr[data-job="etl-extract"] [data-outcome="failed"]', timeout=90_000)
    shot(page, "jobs-all")
    page.goto(f"{server}/owners")
    row = page.locator("tr", has_text="data@example.com")
    assert "#data-alerts" in row.inner_text() and "email, slack" in row.inner_text()
    shot(page, "owners")
    page.goto(f"{server}/status")
    text = page.inner_text("main")
    assert "leader" in text and "subscribed" in text
    assert page.locator("#status table.grid tbody tr code").count() >= 1, "an agent row"
    shot(page, "status")
    page.close()


def test_a_reader_sees_no_buttons_and_an_admin_deletes_with_confirmation(server, browser):
    page = log_in(browser, server, "viewer", "look")
    page.goto(f"{server}/jobs/hello-ui")
    assert page.locator("main button").count() == 0
    assert page.locator("text=New job").count() == 0
    shot(page, "job-read-only")
    page.close()

    page = log_in(browser, server, "ops", "opspw")
    create_job(page, server, name="short-lived", command="true", schedule="@daily")
    page.wait_for_url(re.compile(r".*/jobs/short-lived.*"))
    dismissed = []
    page.once("dialog", lambda d: (dismissed.append(d.message), d.dismiss()))
    page.click("button:has-text('Delete')")
    assert dismissed and "cannot be undone" in dismissed[0]
    assert "/jobs/short-lived" in page.url, "dismissing the confirmation deletes nothing"
    page.once("dialog", lambda d: d.accept())
    page.click("button:has-text('Delete')")
    page.wait_for_url(re.compile(r".*/jobs\?msg=.*"))
    assert "deleted" in page.inner_text(".banner.info")
    assert requests.get(f"{server}/api/v1/jobs/short-lived", auth=("ops", "opspw"), timeout=5).status_code == 404
    page.close()


def test_a_page_of_another_origin_cannot_frame_a_logged_in_page(server, browser):
    """A page on another port of the same host (same site: the session cookie goes along)
    frames a job page: the browser refuses to show it (X-Frame-Options, CSP frame-ancestors)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            body = (
                b"<p id='own'>framed fine</p>"
                if self.path == "/own"
                else f'<iframe id="own" src="/own"></iframe><iframe id="ui" src="{server}/jobs"></iframe>'.encode()
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    Thread(target=evil.serve_forever, daemon=True).start()
    page = log_in(browser, server, "ops", "opspw")
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame" in m.text.lower() else None)
    try:
        page.goto(f"http://127.0.0.1:{evil.server_port}/")
        own = page.frame_locator("#own").locator("#own")
        own.wait_for()  # framing as such works: the harness can show a frame
        wait_for(lambda: refused, 20, 0.1, what="the browser to refuse the frame")
        assert any("x-frame-options" in m.lower() or "frame-ancestors" in m.lower() for m in refused), refused
        assert page.frame_locator("#ui").locator("a.brand").count() == 0, "no moroccron page inside the frame"
        shot(page, "framed-refused")
    finally:
        page.close()
        evil.shutdown()
        evil.server_close()


def test_a_reader_logs_out_and_the_old_session_is_gone(server, browser):
    page = log_in(browser, server, "viewer", "look")
    cookie = next(c for c in page.context.cookies() if c["name"] == "moroccron_session")
    page.click("button:has-text('log out')")
    page.wait_for_url(re.compile(r".*/login$"))
    # replay the old cookie, as someone who copied it would
    page.context.add_cookies([cookie])
    page.goto(f"{server}/jobs")
    assert "/login" in page.url, "the server revoked the session"
    page.close()
