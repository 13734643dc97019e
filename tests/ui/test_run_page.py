"""The run page in a real browser (Chromium, Playwright) against a real ``moroccron serve``
with its local Mesos master: the timeline, who started it, stdout and stderr followed live
while the task runs, and the link between a failed attempt and its retry."""

from __future__ import annotations

import re

import pytest
import requests

from tests.e2e.harness import wait_for
from tests.ui.test_browser import browser, log_in, server, shot  # noqa: F401 - the fixtures are shared

pytestmark = pytest.mark.slow

AUTH = ("ops", "opspw")


def api(method: str, url: str, **kw):
    response = requests.request(method, url, auth=AUTH, timeout=20, **kw)
    assert response.status_code < 400, f"{method} {url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def test_a_run_page_follows_the_output_live_and_links_the_retry(server, browser):  # noqa: F811
    # prints, sleeps, prints: the second line must arrive on the open page, without a reload
    api(
        "POST",
        f"{server}/api/v1/jobs",
        json={
            "name": "tail-me",
            "command": "echo tail-start; echo warn-line >&2; sleep 6; echo tail-end; exit 3",
            "retries": 1,
            "retry_delay_seconds": 1,
            "owners": ["data@example.com"],
        },
    )
    first = api("POST", f"{server}/api/v1/jobs/tail-me/runs")["task_id"]
    page = log_in(browser, server, "ops", "opspw")
    page.goto(f"{server}/runs/{first}")
    assert page.inner_text("#task-id") == first
    page.evaluate("window.sameDocument = true")
    page.wait_for_function("() => document.querySelector('#stdout').textContent.includes('tail-start')", timeout=60_000)
    assert "tail-end" not in page.inner_text("#stdout"), "the first line shows while the task still sleeps"
    assert page.get_attribute("#run-live", "data-final") == "false"
    page.wait_for_selector('#timeline tr[data-step="started"].reached', timeout=30_000)
    shot(page, "run-live")
    page.wait_for_function("() => document.querySelector('#stdout').textContent.includes('tail-end')", timeout=60_000)
    page.wait_for_selector('#run-live[data-final="true"][data-tail-done="true"]', timeout=60_000)
    assert page.evaluate("window.sameDocument === true"), "the output grew without a reload"
    assert "warn-line" in page.inner_text("#stderr")
    assert page.inner_text("#run-state") == "failed"
    assert page.inner_text("#exit") == "3"
    assert page.inner_text("#attempt") == "attempt 1 of 2"
    assert "ops" in page.inner_text("#started-by"), "who asked for the run"
    assert page.locator("#agent code").count() == 1, "the agent's id"
    for step in ("due", "queued", "offered", "launched", "started", "finished"):
        assert page.locator(f'#timeline tr[data-step="{step}"].reached').count() == 1, step
    assert page.locator('#timeline tr[data-step="confirmed"]').count() == 1
    shot(page, "run-failed")

    # the retry of the same fire time shows up in the attempts (the page stopped polling: reload)
    second = first[:-1] + "1"

    def retry_linked():
        page.reload()
        return page.locator(f'#attempts a[href="/runs/{second}"]').count() == 1

    wait_for(retry_linked, 60, 1.0, what="the retry in the attempts table")
    page.click(f'#attempts a[href="/runs/{second}"]')
    page.wait_for_url(re.compile(rf".*/runs/{re.escape(second)}$"))
    assert page.inner_text("#attempt") == "attempt 2 of 2"
    assert page.locator(f'#started-by a[href="/runs/{first}"]').count() == 1, "the retry names what it retries"
    assert page.locator(f'#attempts a[href="/runs/{first}"]').count() == 1
    page.wait_for_selector('#run-live[data-final="true"]', timeout=60_000)
    page.wait_for_function("() => document.querySelector('#stdout').textContent.includes('tail-end')", timeout=30_000)
    shot(page, "run-retry")

    # the job page links each run to its run page; the old link form redirects
    page.goto(f"{server}/jobs/tail-me")
    page.click(f'#runs tr[data-task="{first}"] a.run-link')
    page.wait_for_url(re.compile(rf".*/runs/{re.escape(first)}$"))
    page.goto(f"{server}/jobs/tail-me/runs/{second}")
    assert page.url.endswith(f"/runs/{second}")
    response = page.goto(f"{server}/runs/tail-me.1.0")
    assert response.status == 404
    assert "not found" in page.inner_text("main") and page.locator("header.top a.brand").count() == 1
    page.close()


def test_a_run_killed_from_its_page_names_who_killed_it(server, browser):  # noqa: F811
    api("POST", f"{server}/api/v1/jobs", json={"name": "long-one", "command": "echo started; sleep 300"})
    task = api("POST", f"{server}/api/v1/jobs/long-one/runs")["task_id"]
    wait_for(lambda: api("GET", f"{server}/api/v1/runs/{task}")["state"] == "running", 60, 0.3, what="the task to run")
    reader = log_in(browser, server, "viewer", "look")
    reader.goto(f"{server}/runs/{task}")
    reader.wait_for_function("() => document.querySelector('#stdout').textContent.includes('started')", timeout=30_000)
    assert reader.locator("#kill").count() == 0, "a reader is shown no kill button"
    reader.close()
    page = log_in(browser, server, "ops", "opspw")
    page.goto(f"{server}/runs/{task}")
    page.wait_for_function("() => document.querySelector('#stdout').textContent.includes('started')", timeout=30_000)
    page.once("dialog", lambda d: d.accept())
    page.click("#kill")
    page.wait_for_url(re.compile(r".*/runs/.*\?msg=.*"))
    assert "killing" in page.inner_text(".banner.info")
    page.wait_for_selector('#run-live[data-final="true"]', timeout=60_000)
    assert page.locator("#kill").count() == 0, "no kill button on an ended run"
    assert page.inner_text("#run-state") == "killed"
    assert "ops" in page.inner_text("#killed-by")
    shot(page, "run-killed")
    page.close()
