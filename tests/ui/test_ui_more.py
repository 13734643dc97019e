"""The UI's second round, in a real browser against a real ``moroccron serve``: the failing
filter, the reason's message, the container, the dependency graph at 200 jobs, the
editable Owners page, /cluster, ``/?q=``, the login header and tables on a phone.

Fixtures and helpers come from :mod:`tests.ui.test_browser`; screenshots land in
build/screenshots/ as there.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from moroccron.model import Run, RunState
from moroccron.ui.graph import NODE_H, NODE_W, layout
from moroccron.ui.pages import why
from tests.e2e.harness import wait_for
from tests.ui.serving import serve_ui
from tests.ui.test_browser import browser, log_in, shot  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.slow

ADMIN = ("ops", "opspw")
USERS = "ops:opspw:admin,writer:writepw:write,viewer:look:read"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_ui(tmp_path_factory.mktemp("ui-more-server"), USERS, ADMIN)


def api(server: str, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"{server}/api/v1{path}", auth=ADMIN, timeout=30, **kw)


def add_job(server: str, **body: Any) -> None:
    r = api(server, "POST", "/jobs", json=body)
    assert r.status_code == 201, r.text


def run_until(server: str, name: str, state: str) -> dict[str, Any]:
    """Start a run of ``name`` now and wait until its newest run is ``state``."""
    r = api(server, "POST", f"/jobs/{name}/runs")
    assert r.status_code == 202, r.text

    def ended() -> dict[str, Any] | None:
        runs = api(server, "GET", f"/jobs/{name}/runs").json()["runs"]
        return runs[0] if runs and runs[0]["state"] == state else None

    return wait_for(ended, 60, 0.2, what=f"a run of {name} to be {state}")


def boxes(page, selector: str) -> dict[str, dict[str, float]]:
    """``data-job`` -> the bounding box (in the window) of each node's rectangle."""
    return page.eval_on_selector_all(
        selector,
        """els => Object.fromEntries(els.map(g => {
        const r = g.querySelector('rect').getBoundingClientRect();
        return [g.dataset.job, {left: r.left, right: r.right, top: r.top, bottom: r.bottom}];
    }))""",
    )


def test_the_failing_filter_keeps_the_search_and_shows_why(server, browser):  # noqa: F811
    add_job(server, name="filter-fails", command="definitely-not-a-binary-xyz", shell=False)
    add_job(server, name="filter-works", command="true")
    add_job(server, name="filter-exits", command="exit 3")
    add_job(server, name="other-fails", command="exit 1")
    failed = run_until(server, "filter-fails", "failed")
    assert failed["reason"].startswith("REASON_") and failed["message"], failed
    run_until(server, "filter-works", "succeeded")
    run_until(server, "filter-exits", "failed")
    run_until(server, "other-fails", "failed")
    r = api(server, "GET", "/jobs", params={"state": "failed", "q": "filter-"})
    assert [j["name"] for j in r.json()["jobs"]] == ["filter-exits", "filter-fails"]

    page = log_in(browser, server, *ADMIN)
    page.goto(f"{server}/jobs?q=filter-")
    assert page.locator("#jobs tbody tr[data-job]").count() == 3
    page.click("nav.tabs a[data-state=failed]")
    page.wait_for_url(re.compile(r".*/jobs\?q=filter-&state=failed$"))
    assert page.input_value("input[name=q]") == "filter-", "the search is kept"
    rows = page.locator("#jobs tbody tr[data-job]")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.job)")) == ["filter-exits", "filter-fails"]
    assert page.locator("nav.tabs a.on").inner_text() == "failing"
    # the WHY under the failed badge: the message, not the reason code, which is the tooltip
    why = page.locator('tr[data-job="filter-fails"] .why')
    assert "not found" in why.inner_text() and "REASON_" not in why.inner_text()
    assert why.get_attribute("title") == failed["reason"]
    shot(page, "jobs-failing")
    # searching again keeps the tab; the refreshing rows keep the filter too
    page.fill("input[name=q]", "filter-e")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r".*/jobs\?q=filter-e&owner=&label=&state=failed$"))
    assert page.locator("#jobs tbody tr[data-job]").evaluate_all("rs => rs.map(r => r.dataset.job)") == ["filter-exits"]
    before = page.evaluate("document.querySelector('#jobs').dataset.refreshed || ''")
    page.wait_for_function(
        f"() => (document.querySelector('#jobs').dataset.refreshed || '') !== '{before}'", timeout=20_000
    )
    assert page.locator("#jobs tbody tr[data-job]").count() == 1
    page.click("nav.tabs a[data-state=all]")
    page.wait_for_url(re.compile(r".*/jobs\?q=filter-e$"))
    page.goto(f"{server}/jobs?state=sleepy")
    assert "pick one of enabled, disabled, failed, running, quarantined" in page.inner_text("p.error")

    page.goto(f"{server}/jobs/filter-fails")
    cell = page.locator('#runs tr[data-state="failed"] td.why').first
    assert "not found on PATH" in cell.inner_text() and "REASON_" not in cell.inner_text()
    assert cell.get_attribute("title") == failed["reason"]
    page.close()


def test_the_job_page_shows_the_container(server, browser):  # noqa: F811
    add_job(
        server,
        name="in-a-box",
        command="python -V",
        container={"type": "docker", "image": "python:3.12-slim", "force_pull": True, "network": "bridge"},
    )
    page = log_in(browser, server, *ADMIN)
    page.goto(f"{server}/jobs/in-a-box")
    text = page.inner_text("#container")
    assert "python:3.12-slim" in text and "docker" in text and "force pull" in text and "bridge" in text
    assert page.locator("#container code.image").inner_text() == "python:3.12-slim"
    shot(page, "job-container")
    page.close()


def test_the_graph_of_200_jobs_fits_the_window_without_overlaps(server, browser):  # noqa: F811
    """36 small trees and one root with 19 children: 200 jobs, 37 roots. One root fails."""
    edges: list[tuple[str, str]] = []
    names: list[str] = []
    for t in range(36):
        root = f"g{t:02d}"
        tree = {
            root: [],
            f"{root}-a": [root],
            f"{root}-b": [root],
            f"{root}-a1": [f"{root}-a"],
            f"{root}-ab": [f"{root}-a", f"{root}-b"],
        }
        for name, parents in tree.items():
            add_job(server, name=name, command="exit 1" if name == "g27" else "true", parents=parents)
            names.append(name)
            edges += [(p, name) for p in parents]
    add_job(server, name="hub", command="true")
    names.append("hub")
    for i in range(19):
        add_job(server, name=f"hub-{i:02d}", command="true", parents=["hub"])
        names.append(f"hub-{i:02d}")
        edges.append(("hub", f"hub-{i:02d}"))
    assert len(names) == 200
    run_until(server, "g27", "failed")

    page = log_in(browser, server, *ADMIN)
    page.goto(f"{server}/graph")
    page.wait_for_selector('g.node.failed[data-job="g27"]')
    found = boxes(page, "g.node")
    assert set(names) <= set(found)
    drawn = {n: found[n] for n in names}
    width = page.evaluate("document.documentElement.clientWidth")
    height = page.evaluate("window.innerHeight")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scrolling"
    outside = [n for n, b in drawn.items() if b["left"] < 0 or b["right"] > width]
    assert not outside, f"nodes outside the {width} px window: {outside[:5]}"
    overlapping = [
        (a, b)
        for (a, p), (b, q) in itertools.combinations(drawn.items(), 2)
        if p["left"] < q["right"] and q["left"] < p["right"] and p["top"] < q["bottom"] and q["top"] < p["bottom"]
    ]
    assert not overlapping, overlapping[:5]
    assert all(drawn[p]["bottom"] <= drawn[c]["top"] for p, c in edges), "parents above their children"
    roots_rows = {round(drawn[f"g{t:02d}"]["top"]) for t in range(36)}
    assert len(roots_rows) >= 3, "many roots wrap onto several rows"
    for t in range(36):  # each tree kept together: its jobs within the horizontal span of its block
        tree = [n for n in names if n == f"g{t:02d}" or n.startswith(f"g{t:02d}-")]
        lefts = [drawn[n]["left"] for n in tree]
        assert max(lefts) - min(lefts) < 3 * (drawn[tree[0]]["right"] - drawn[tree[0]]["left"]), tree
    failed = drawn["g27"]
    assert failed["top"] >= 0 and failed["bottom"] <= height, "the failed job is in view without scrolling"
    assert page.locator('g.node.waiting[data-job="g27-ab"]').count() == 1
    shot(page, "graph-200")
    page.close()


def test_owners_are_edited_in_the_page_by_an_admin(server, browser):  # noqa: F811
    add_job(server, name="owned-alone", command="true", owners=["lonely@example.com"])
    page = log_in(browser, server, *ADMIN)
    page.goto(f"{server}/owners")
    lonely = page.locator('tr.named-only[data-owner="lonely@example.com"]')
    assert "only named in jobs" in lonely.inner_text()
    shot(page, "owners-editable")

    # create a new owner
    page.click("text=New owner")
    page.fill("#f-id", "data@example.com")
    page.fill("#f-name", "Data on-call")
    page.fill("#f-slack", "#data-alerts")
    page.fill("#f-pref_failure", "email, slack")
    page.fill("#f-pref_recovery", "slack")
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/owners\?msg=.*"))
    assert "created" in page.inner_text(".banner.info")
    row = page.locator('tr[data-owner="data@example.com"]')
    assert "#data-alerts" in row.inner_text() and "email, slack" in row.inner_text()
    stored = api(server, "GET", "/owners/data@example.com").json()
    assert stored["name"] == "Data on-call" and stored["preferences"]["recovery"] == ["slack"]

    # edit with invalid values: the errors show next to their fields, the input is kept
    row.locator("text=Edit").click()
    page.wait_for_url(re.compile(r".*/owners/edit\?id=data%40example.com$"))
    assert page.input_value("#f-name") == "Data on-call"
    page.fill("#f-mute_until", "tomorrow morning")
    page.fill("#f-pref_failure", "email, sms")
    page.click("button.primary")
    assert "ISO 8601" in page.inner_text("#err-mute_until")
    assert page.locator(".field.invalid #f-mute_until").count() == 1
    assert page.input_value("#f-mute_until") == "tomorrow morning"
    shot(page, "owner-form-error")
    page.fill("#f-mute_until", "2030-01-01T08:00:00Z")
    page.click("button.primary")
    assert "unknown channel" in page.inner_text("#err-pref_failure")
    assert "email | slack | pagerduty | webhook" in page.inner_text("#err-pref_failure")
    assert api(server, "GET", "/owners/data@example.com").json()["mute_until"] is None, "nothing saved"
    page.fill("#f-pref_failure", "email")
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/owners\?msg=.*"))
    stored = api(server, "GET", "/owners/data@example.com").json()
    assert stored["mute_until"].startswith("2030-01-01T08:00:00") and stored["preferences"]["failure"] == ["email"]

    # an owner only named in jobs is created from its row
    page.locator('tr.named-only[data-owner="lonely@example.com"] >> text=Create').click()
    assert page.input_value("#f-id") == "lonely@example.com"
    page.fill("#f-name", "Lonely")
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/owners\?msg=.*"))
    assert page.locator('tr.named-only[data-owner="lonely@example.com"]').count() == 0
    assert page.locator('tr[data-owner="lonely@example.com"]').count() == 1

    # delete, after a confirmation
    page.once("dialog", lambda d: d.accept())
    page.locator('tr[data-owner="data@example.com"] >> button:has-text("Delete")').click()
    page.wait_for_url(re.compile(r".*/owners\?msg=.*"))
    assert "deleted" in page.inner_text(".banner.info")
    assert api(server, "GET", "/owners/data@example.com").status_code == 404
    page.close()


@pytest.mark.parametrize("user", [("viewer", "look"), ("writer", "writepw")], ids=["read", "write"])
def test_owners_are_read_only_below_admin(server, browser, user):  # noqa: F811
    """Owners need the admin role in the API; the page lets nobody below it change them."""
    r = api(server, "PUT", "/owners/web@example.com", json={"name": "Web team"})
    assert r.status_code in (200, 201), r.text
    page = log_in(browser, server, *user)
    page.goto(f"{server}/owners")
    assert page.locator('tr[data-owner="web@example.com"]').count() == 1
    assert page.locator("main button").count() == 0
    assert page.locator("main a.button").count() == 0, "no New, Edit or Create"
    page.goto(f"{server}/owners/edit?id=web@example.com")
    assert "needs 'admin'" in page.inner_text("p.error")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "moroccron_csrf")
    refused = page.request.post(f"{server}/owners/delete", form={"csrf": csrf, "id": "web@example.com"})
    assert refused.status == 403
    assert api(server, "GET", "/owners/web@example.com").status_code == 200, "still there"
    page.close()


def test_cluster_page_and_old_address(server, browser):  # noqa: F811
    page = log_in(browser, server, *ADMIN)
    page.goto(f"{server}/cluster")
    assert page.locator("h1").inner_text() == "Cluster"
    assert page.locator('header nav a.on[href="/cluster"]').count() == 1
    assert "subscribed" in page.inner_text("main")
    page.goto(f"{server}/status")
    page.wait_for_url(re.compile(r".*/cluster$"))
    assert page.locator("h1").inner_text() == "Cluster"
    r = requests.get(f"{server}/ui/fragments/status", auth=ADMIN, timeout=10)
    assert r.status_code == 200 and 'id="status"' in r.text
    # the page refreshes itself from the fragment
    before = page.evaluate("document.querySelector('#status').dataset.refreshed || ''")
    page.wait_for_function(
        f"() => (document.querySelector('#status').dataset.refreshed || '') !== '{before}'", timeout=20_000
    )
    page.close()


def test_the_home_page_keeps_the_query(server, browser):  # noqa: F811
    page = log_in(browser, server, *ADMIN)
    page.goto(f"{server}/?q=filter-&state=failed&owner=")
    page.wait_for_url(re.compile(r".*/jobs\?q=filter-&state=failed&owner=$"))
    assert page.input_value("input[name=q]") == "filter-"
    assert page.locator("nav.tabs a.on").inner_text() == "failing"
    page.close()


def test_the_login_page_shows_no_user(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{server}/jobs?q=x")
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    who = page.inner_text("header .who")
    assert "nobody" not in who and "log out" not in who and "[read]" not in who and "read" not in who
    assert page.locator("header .who .user").count() == 0
    assert page.locator("header button").count() == 0
    page.fill("input[name=user]", "viewer")
    page.fill("input[name=password]", "look")
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/jobs\?q=x$"))
    assert "viewer" in page.inner_text("header .who .user") and page.locator("text=log out").count() == 1
    page.close()


@pytest.mark.parametrize(
    "path",
    [
        "/jobs",
        "/jobs/filter-fails",
        "/jobs/filter-fails/edit",
        "/new-job",
        "/owners",
        "/owners/edit",
        "/cluster",
        "/graph",
        "/login",
    ],
)
def test_nothing_overflows_a_phone(server, browser, path):  # noqa: F811
    page = log_in(browser, server, *ADMIN)
    page.set_viewport_size(PHONE)
    page.goto(f"{server}{path}")
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.clientWidth")
    assert width == PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    tables = page.eval_on_selector_all("table", "ts => ts.map(t => t.getBoundingClientRect().right)")
    wraps = page.eval_on_selector_all(".table-wrap", "ws => ws.map(w => w.getBoundingClientRect().right)")
    assert len(wraps) == len(tables) and all(right <= width for right in wraps), (tables, wraps)
    for selector in ("header", "main"):
        assert page.eval_on_selector(selector, "e => e.getBoundingClientRect().right") <= width, selector
    shot(page, "phone" + re.sub(r"\W", "-", path))
    page.close()


def test_why_puts_the_reason_in_words():
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def run(reason: str | None, message: str | None) -> Run:
        return Run(job="j", scheduled_at=at, state=RunState.FAILED, reason=reason, message=message)

    assert why(run("REASON_CONTAINER_LAUNCH_FAILED", "Failed to pull image busybox:9")) == (
        "Failed to pull image busybox:9"
    )
    assert why(run("REASON_CONTAINER_LAUNCH_FAILED", None)) == "container launch failed"
    assert why(run("timeout: ran longer than 30 s", "Command terminated with signal Killed")) == (
        "timeout: ran longer than 30 s: Command terminated with signal Killed"
    )
    assert why(run("killed by request of ops", "killed by request of ops")) == "killed by request of ops"
    assert why(run(None, None)) == ""


def test_layout_wraps_roots_and_wide_layers_within_the_width():
    parents: dict[str, list[str]] = {f"root{i:02d}": [] for i in range(50)}
    parents.update({f"leaf{i:02d}": [f"root{i:02d}"] for i in range(50)})
    parents.update({"hub": [], **{f"spoke{i:02d}": ["hub"] for i in range(40)}})
    lay = layout(parents, max_width=900, first={"root42"})
    assert lay.width <= 900 and set(lay.nodes) == set(parents)
    assert all(x >= 0 and x + NODE_W <= lay.width and y + NODE_H <= lay.height for x, y in lay.nodes.values())
    for (a, (ax, ay)), (b, (bx, by)) in itertools.combinations(lay.nodes.items(), 2):
        assert not (ax < bx + NODE_W and bx < ax + NODE_W and ay < by + NODE_H and by < ay + NODE_H), (a, b)
    assert all(lay.nodes[p][1] + NODE_H < lay.nodes[c][1] for p, c in lay.edges)
    assert lay.nodes["root42"][1] == min(y for _, y in lay.nodes.values()), "the group asked for first is on top"
    spokes = sorted({y for name, (_, y) in lay.nodes.items() if name.startswith("spoke")})
    assert len(spokes) > 1, "a layer of 40 wraps"
    assert lay.nodes["leaf07"][0] == lay.nodes["root07"][0], "a leaf under its root"
    assert layout({}).nodes == {}
