"""The link in a real failure notification leads to the run's page.

A real ``moroccron serve`` (its local Mesos master, SQLite, authentication) runs a job that
fails; the installed email, Slack and PagerDuty notifiers deliver the failure to a real SMTP
server (aiosmtpd) and local HTTP receivers. The URL is taken out of each message as its
reader would find it, and fetched with the UI's credentials: a 200 page about that run.
"""

from __future__ import annotations

import email
import email.policy
import re

import pytest
import requests
from aiosmtpd.controller import Controller

from tests.e2e.harness import wait_for
from tests.receivers import Receiver
from tests.servers import free_port, serve_process

pytestmark = pytest.mark.slow

ROUTING_KEY = "R0123456789abcdef0123456789abcde"  # 32 characters, as PagerDuty issues them
AUTH = ("ops", "opspw")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd naming
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def receivers():
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    pagerduty = Receiver(status=202, path="/v2/enqueue", body=b'{"status":"success","message":"Event processed"}')
    slack = Receiver(status=200, path="/services/T000/B000/XXXX", body=b"ok")
    yield box, smtp.port, pagerduty, slack
    smtp.stop()
    pagerduty.close()
    slack.close()


@pytest.fixture
def serve(tmp_path, receivers):
    box, smtp_port, pagerduty, slack = receivers
    config = tmp_path / "moroccron.toml"
    config.write_text(f"""
[plugins.email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "moroccron@example.com"

[plugins.pagerduty]
events_url = "{pagerduty.url}"
services = {{ data-oncall = "{ROUTING_KEY}" }}

[plugins.slack]
webhook_url = "{slack.url}"
""")
    env = {"MOROCCRON_AUTH_USERS": "ops:opspw:admin"}
    with serve_process(tmp_path, "--config", str(config), env=env, check_stop=False) as serving:
        serving.wait_connected(auth=AUTH)
        yield serving.url, serving.log


def run_links(text: str, base: str) -> list[str]:
    return re.findall(rf"{re.escape(base)}/runs/[A-Za-z0-9._-]+", text)


def logged_in(base: str) -> requests.Session:
    """A browser's session: the login form (with its CSRF token), then the session cookie."""
    session = requests.Session()
    form = session.get(f"{base}/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = session.post(
        f"{base}/login",
        data={"csrf": csrf, "user": "ops", "password": "opspw", "next": "/jobs"},
        timeout=10,
        allow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return session


def test_the_links_in_failure_notifications_open_the_run_page(serve, receivers):
    base, log = serve
    box, _, pagerduty, slack = receivers
    job = {
        "name": "nightly-etl",
        "command": "echo loading; echo 'disk full on /data' >&2; exit 4",
        "owners": ["data@example.com"],
        "notify": {"on_failure": ["pagerduty:data-oncall", "slack:#data"]},
    }
    created = requests.post(f"{base}/api/v1/jobs", json=job, auth=AUTH, timeout=20)
    assert created.status_code == 201, created.text
    started = requests.post(f"{base}/api/v1/jobs/nightly-etl/runs", auth=AUTH, timeout=20)
    assert started.status_code == 202, started.text
    task = started.json()["task_id"]

    wait_for(
        lambda: box.messages and pagerduty.bodies and slack.bodies,
        90,
        0.2,
        what=f"the failure by email, PagerDuty and Slack (log: {log})",
    )

    mail = box.messages[0]
    mail_links = run_links(mail.get_body(("plain",)).get_content(), base)
    pd_links = [link["href"] for link in pagerduty.bodies[0].get("links", [])]
    slack_links = run_links(str(slack.bodies[0]["blocks"]), base)
    expected = f"{base}/runs/{task}"
    assert mail_links and set(mail_links) == {expected}, mail_links
    assert pd_links == [expected]
    assert slack_links and set(slack_links) == {expected}, slack_links

    # as a logged-in person (the UI's session) and as an API client with credentials
    for client in (logged_in(base), requests.Session()):
        auth = None if client.cookies else AUTH
        for link in {*mail_links, *pd_links, *slack_links}:
            page = client.get(link, auth=auth, timeout=20)
            assert page.status_code == 200, (link, page.status_code, page.text[:300])
            assert "text/html" in page.headers["content-type"]
            assert re.search(rf'id="task-id">{re.escape(task)}<', page.text)
            assert 'id="run-state">failed<' in page.text

    # the page shows the notifications that were sent about the run, and their delivery
    def delivered():
        page = requests.get(expected, auth=AUTH, timeout=20).text
        return 'data-state="delivered"' in page and page

    page = wait_for(delivered, 60, 0.5, what="the delivery recorded on the run page")
    for target in ("email:data@example.com", "pagerduty:data-oncall", "slack:#data"):
        assert f'data-target="{target}"' in page, target
    api = requests.get(f"{base}/api/v1/runs/{task}/notifications", auth=AUTH, timeout=20).json()
    [failure] = [n for n in api["notifications"] if n["event"] == "failure"]
    assert failure["state"] == "delivered" and all(t["ok"] for t in failure["targets"])

    # the link form older messages carry still leads there
    old = requests.get(f"{base}/jobs/nightly-etl/runs/{task}", auth=AUTH, timeout=20, allow_redirects=False)
    assert old.status_code in (303, 307) and old.headers["location"] == f"/runs/{task}"
