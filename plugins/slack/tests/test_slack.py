"""The slack plugin against a real local HTTP receiver that checks Slack's published formats."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_receiver import (
    API_PATH,
    TOKEN,
    WEBHOOK_PATH,
    SlackReceiver,
    check_escaped,
    validate_message,
)

from moroccron.config import Settings
from moroccron.errors import ValidationError
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.types import DeliveryResult, Notification, NotifyTarget
from moroccron.model import JobSpec, Run, RunState, stored_data
from moroccron_slack import _delivery, _message, _settings, plugin

SCHEDULED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UI = "https://moroccron.example.com"
RUN_URL = f"{UI}/runs/etl-load.1772366400.1"
SUBTREE = [
    {
        "job": "load-report",
        "owners": ["bi@example.com", "carol@example.com"],
        "children": [{"job": "dashboard", "owners": [], "children": []}],
    }
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No MOROCCRON_SLACK_* from the developer's shell, and no state between tests."""
    for name in (_settings.ENV_WEBHOOK_URL, _settings.ENV_BOT_TOKEN, _settings.ENV_API_URL, _settings.ENV_TIMEOUT):
        monkeypatch.delenv(name, raising=False)
    yield
    plugin.moroccron_shutdown()


@pytest.fixture
def receiver() -> Iterator[SlackReceiver]:
    server = SlackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def bot(receiver: SlackReceiver) -> SlackReceiver:
    plugin.moroccron_startup(
        config=Settings(plugins={"slack": {"bot_token": TOKEN, "api_url": receiver.api_url, "timeout": 2}})
    )
    return receiver


@pytest.fixture
def webhook(receiver: SlackReceiver) -> SlackReceiver:
    plugin.moroccron_startup(config=Settings(plugins={"slack": {"webhook_url": receiver.webhook_url, "timeout": 2}}))
    return receiver


def job(**changes: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "name": "etl-load",
        "command": "load.sh",
        "schedule": "0 * * * *",
        "owners": ("data-team@example.com",),
        "retries": 2,
    }
    fields.update(changes)
    return JobSpec(**fields)


def run(**changes: Any) -> Run:
    fields: dict[str, Any] = {
        "job": "etl-load",
        "scheduled_at": SCHEDULED,
        "attempt": 1,
        "state": RunState.FAILED,
        "launched_at": SCHEDULED + timedelta(seconds=1),
        "finished_at": SCHEDULED + timedelta(minutes=5),
        "exit_status": 3,
        "reason": "REASON_COMMAND_EXECUTOR_FAILED",
        "message": "Command exited with status 3",
        "agent_id": "S1",
        "hostname": "a1",
    }
    fields.update(changes)
    return Run(**fields)


def notification(
    event: str = "failure",
    *,
    targets: tuple[str, ...] = ("slack:#data-alerts",),
    the_job: JobSpec | None = None,
    the_run: Run | None = None,
    subject: str | None = None,
    **detail_changes: Any,
) -> Notification:
    the_job = the_job or job()
    if the_run is None and event != "disabled":
        the_run = (
            run()
            if event in ("failure", "skipped")
            else run(state=RunState.SUCCEEDED, exit_status=0, reason=None, message=None, attempt=0)
        )
    facts: dict[str, Any] = {"ui_url": UI}
    if the_run is not None:
        facts.update(
            {
                "task_id": the_run.task_id,
                "exit_status": the_run.exit_status,
                "reason": the_run.reason,
                "agent": the_run.agent_id,
                "hostname": the_run.hostname,
                "scheduled_at": "2026-03-01T12:00:00Z",
                "launched_at": "2026-03-01T12:00:01Z",
                "attempt": the_run.attempt,
                "run_url": RUN_URL,
                "pending_subtree": SUBTREE if event == "failure" else [],
                "failure_count": 2,
            }
        )
    else:
        facts.update({"reason": "disabled after 3 consecutive failures", "failure_count": 3})
    facts.update(detail_changes)
    return Notification(
        event=event,
        job=the_job,
        run=the_run,
        targets=tuple(NotifyTarget.parse(t) for t in targets),
        subject=subject if subject is not None else f"[moroccron] etl-load: {event}",
        text="plain body",
        details=facts,
    )


FAILURE_BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": ":red_circle: etl-load failed", "emoji": True}},
    {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": "*Job*\netl-load"},
            {"type": "mrkdwn", "text": f"*Run*\n<{RUN_URL}|etl-load.1772366400.1>"},
            {"type": "mrkdwn", "text": "*Scheduled*\n2026-03-01T12:00:00Z"},
            {"type": "mrkdwn", "text": "*Exit status / reason*\nexit 3 · REASON_COMMAND_EXECUTOR_FAILED"},
            {"type": "mrkdwn", "text": "*Attempt*\n2 of 3"},
            {"type": "mrkdwn", "text": "*Agent*\na1 (S1)"},
            {"type": "mrkdwn", "text": "*Failures in a row*\n2"},
        ],
    },
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Message*\nCommand exited with status 3"}},
    {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": (
                "*Waiting on this job* (2 jobs)\n"
                "• `load-report` — owners: bi@example.com, carol@example.com\n"
                "\u2003• `dashboard` — no owners"
            ),
        },
    },
    {"type": "divider"},
    {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"<{RUN_URL}|View the run in moroccron>"},
            {"type": "mrkdwn", "text": "Owners: data-team@example.com"},
        ],
    },
]


# --------------------------------------------------------------------------- bot token mode


def test_bot_mode_posts_the_documented_message_to_the_target_channel(bot: SlackReceiver) -> None:
    results = _delivery.deliver(notification())

    assert results == [
        DeliveryResult(NotifyTarget("slack", "#data-alerts"), True, "ts 1772366730.000001 in C0DATA0001")
    ]
    assert bot.problems == [[]]
    (request,) = bot.received
    assert request.path == API_PATH
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.body == {
        "channel": "#data-alerts",
        "text": "[moroccron] etl-load: failure",
        "blocks": FAILURE_BLOCKS,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def test_bot_mode_posts_once_per_target(bot: SlackReceiver) -> None:
    results = _delivery.deliver(
        notification(targets=("slack:#data-alerts", "email:ops@example.com", "slack:U0BOB00001"))
    )

    assert [(r.target.address, r.ok, r.detail) for r in results or []] == [
        ("#data-alerts", True, "ts 1772366730.000001 in C0DATA0001"),
        ("U0BOB00001", True, "ts 1772366730.000002 in D0BOB00001"),
    ]
    assert [b["channel"] for b in bot.bodies] == ["#data-alerts", "U0BOB00001"]
    assert bot.problems == [[], []]


def test_channel_not_found_fails_that_target_only(bot: SlackReceiver) -> None:
    results = _delivery.deliver(notification(targets=("slack:#no-such-channel", "slack:#etl")))

    assert results is not None
    assert (results[0].ok, results[0].detail) == (
        False,
        "Slack refused chat.postMessage to #no-such-channel: channel_not_found",
    )
    assert results[1].ok


def test_a_wrong_token_is_reported_not_raised(receiver: SlackReceiver) -> None:
    plugin.moroccron_startup(
        config=Settings(plugins={"slack": {"bot_token": "xoxb-0000-revoked", "api_url": receiver.api_url}})
    )
    results = _delivery.deliver(notification())

    assert results is not None and results[0].detail == "Slack refused chat.postMessage to #data-alerts: invalid_auth"
    assert "xoxb-0000-revoked" not in results[0].detail


def test_429_is_retryable_with_retry_after(bot: SlackReceiver) -> None:
    bot.answer_next(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})
    results = _delivery.deliver(notification())

    assert results is not None and not results[0].ok
    assert results[0].detail == "retryable: rate limited by Slack (HTTP 429, Retry-After 30 s)"


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (
            (200, {"ok": False, "error": "internal_error"}),
            "retryable: Slack chat.postMessage to #data-alerts: internal_error",
        ),
        ((503, "upstream unavailable"), "retryable: Slack answered HTTP 503: upstream unavailable"),
        (
            (200, "<html>not json</html>"),
            "unexpected answer from Slack chat.postMessage (HTTP 200): <html>not json</html>",
        ),
        ((200, {"ok": False, "error": "is_archived"}), "Slack refused chat.postMessage to #data-alerts: is_archived"),
    ],
)
def test_post_message_answers(bot: SlackReceiver, answer: tuple[int, Any], detail: str) -> None:
    bot.answer_next(*answer)
    results = _delivery.deliver(notification())

    assert results is not None and (results[0].ok, results[0].detail) == (False, detail)


# --------------------------------------------------------------------------- webhook mode


def test_webhook_mode_posts_once_for_all_slack_targets(webhook: SlackReceiver) -> None:
    results = _delivery.deliver(notification(targets=("slack:#data-alerts", "slack:#etl", "pagerduty:db")))

    assert len(webhook.received) == 1
    (request,) = webhook.received
    assert request.path == WEBHOOK_PATH
    assert "Authorization" not in request.headers
    assert request.problems == []
    assert request.body == {
        "text": "[moroccron] etl-load: failure",
        "blocks": FAILURE_BLOCKS,
        "unfurl_links": False,
        "unfurl_media": False,
    }
    detail = "posted by the incoming webhook, to the channel it was created for (one post for the 2 Slack targets)"
    assert results == [
        DeliveryResult(NotifyTarget("slack", "#data-alerts"), True, detail),
        DeliveryResult(NotifyTarget("slack", "#etl"), True, detail),
    ]


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (404, "no_service", "Slack refused the webhook post (HTTP 404): no_service"),
        (400, "invalid_blocks", "Slack refused the webhook post (HTTP 400): invalid_blocks"),
        (410, "channel_is_archived", "Slack refused the webhook post (HTTP 410): channel_is_archived"),
        (403, "action_prohibited", "Slack refused the webhook post (HTTP 403): action_prohibited"),
        (500, "rollup_error", "retryable: the Slack webhook answered HTTP 500: rollup_error"),
    ],
)
def test_webhook_errors_fail_every_target_of_the_post(
    webhook: SlackReceiver, status: int, body: str, detail: str
) -> None:
    webhook.answer_next(status, body)
    results = _delivery.deliver(notification(targets=("slack:#data-alerts", "slack:#etl")))

    assert [(r.ok, r.detail.split(" (one post")[0]) for r in results or []] == [(False, detail)] * 2


def test_webhook_429_is_retryable(webhook: SlackReceiver) -> None:
    webhook.answer_next(429, "rate_limited", {"Retry-After": "12"})
    results = _delivery.deliver(notification())

    assert results is not None and results[0].detail == "retryable: rate limited by Slack (HTTP 429, Retry-After 12 s)"


def test_a_revoked_webhook_answers_no_service(receiver: SlackReceiver) -> None:
    """The receiver's own 404 for a URL it does not know, as Slack does for a deleted webhook."""
    plugin.moroccron_startup(config=Settings(plugins={"slack": {"webhook_url": receiver.base + "/services/T/B/old"}}))
    results = _delivery.deliver(notification())

    assert results is not None and results[0].detail == "Slack refused the webhook post (HTTP 404): no_service"
    assert "/services/T/B/old" not in results[0].detail


def test_connection_refused_is_retryable_and_hides_the_webhook_path() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    plugin.moroccron_startup(
        config=Settings(plugins={"slack": {"webhook_url": f"http://127.0.0.1:{port}/services/T/B/secret"}})
    )
    results = _delivery.deliver(notification())

    assert results is not None and results[0].detail == (
        f"retryable: cannot reach the Slack webhook at http://127.0.0.1:{port}/*** (ConnectionError)"
    )


def test_a_slow_answer_times_out_and_is_retryable(receiver: SlackReceiver) -> None:
    plugin.moroccron_startup(
        config=Settings(plugins={"slack": {"bot_token": TOKEN, "api_url": receiver.api_url, "timeout": 0.3}})
    )
    receiver.answer_next(200, {"ok": True, "ts": "1"}, delay=1.5)
    results = _delivery.deliver(notification())

    assert results is not None and not results[0].ok
    assert results[0].detail.startswith("retryable: Slack chat.postMessage at ")
    assert results[0].detail.endswith("did not answer within 0.3 s (ReadTimeout)")


# --------------------------------------------------------------------------- the message


@pytest.mark.parametrize(
    ("event", "header"),
    [
        ("failure", ":red_circle: etl-load failed"),
        ("recovery", ":large_green_circle: etl-load recovered"),
        ("success", ":white_check_mark: etl-load succeeded"),
        ("skipped", ":fast_forward: etl-load run skipped"),
        ("disabled", ":no_entry_sign: etl-load disabled"),
    ],
)
def test_every_event_makes_a_valid_message(bot: SlackReceiver, event: str, header: str) -> None:
    results = _delivery.deliver(notification(event))

    assert results is not None and results[0].ok, results
    assert bot.problems == [[]]
    blocks = bot.bodies[0]["blocks"]
    assert blocks[0]["text"]["text"] == header
    assert blocks[-1]["type"] == "context"


def test_a_disabled_job_has_no_run_fields(bot: SlackReceiver) -> None:
    _delivery.deliver(notification("disabled"))

    fields = [f["text"] for f in bot.bodies[0]["blocks"][1]["fields"]]
    assert fields == ["*Job*\netl-load", "*Reason*\ndisabled after 3 consecutive failures", "*Failures in a row*\n3"]
    assert bot.bodies[0]["blocks"][-1]["elements"][0]["text"] == f"<{UI}|Open moroccron>"


def test_user_content_is_escaped(bot: SlackReceiver) -> None:
    """A job owner or a task's message must not ping a channel or forge a link."""
    the_job = job(owners=("<!channel> & friends",))
    the_run = run(message="<script>alert(1)</script> & <https://evil.example.com|click>", reason="a<b")
    results = _delivery.deliver(
        notification(
            the_job=the_job,
            the_run=the_run,
            reason="a<b",
            subject="[moroccron] <!here> etl-load & co",
            pending_subtree=[{"job": "x", "owners": ["<@U123>"], "children": []}],
        )
    )

    assert results is not None and results[0].ok
    assert bot.problems == [[]]
    body = bot.bodies[0]
    assert body["text"] == "[moroccron] &lt;!here&gt; etl-load &amp; co"
    texts = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section" and "text" in b]
    assert texts[0] == ("*Message*\n&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;https://evil.example.com|click&gt;")
    assert "• `x` — owners: &lt;@U123&gt;" in texts[1]
    assert "*Exit status / reason*\nexit 3 · a&lt;b" in [f["text"] for f in body["blocks"][1]["fields"]]
    assert body["blocks"][-1]["elements"][1]["text"] == "Owners: &lt;!channel&gt; &amp; friends"


def test_huge_inputs_are_cut_to_slacks_limits(bot: SlackReceiver) -> None:
    wide = [
        {
            "job": f"child-{i}",
            "owners": [f"owner&{i}@example.com"] * 50,
            "children": [{"job": f"grandchild-{i}", "owners": [], "children": []}],
        }
        for i in range(10_000)
    ]
    name = "j" * 200
    the_run = run(job=name, message="<&>" * 100_000, reason="r" * 50_000)
    with stored_data():  # past today's bounds on owners, as a job stored by an older version may be
        huge_job = job(name=name, owners=("o&" * 5000,))
    results = _delivery.deliver(
        notification(
            the_job=huge_job, the_run=the_run, reason=the_run.reason, pending_subtree=wide, subject="s&" * 50_000
        )
    )

    assert results is not None and results[0].ok, results
    assert bot.problems == [[]]
    body = bot.bodies[0]
    header = body["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")
    assert len(body["text"]) <= _message.MAX_FALLBACK and body["text"].endswith("…")
    message = body["blocks"][2]["text"]["text"]
    assert 2990 <= len(message) <= 3000
    assert re.search(r"&(amp|lt|gt);…$", message)  # cut between entities, never inside one
    subtree = body["blocks"][3]["text"]["text"]
    assert subtree.startswith("*Waiting on this job* (20000 jobs)\n• `child-0`")
    assert len(subtree) <= 3000
    shown = subtree.count("• ")
    assert subtree.endswith(f"…and {20_000 - shown} more")
    assert all(len(f["text"]) <= 2000 for f in body["blocks"][1]["fields"])


def test_a_deep_chain_of_dependants_is_drawn_without_recursion(bot: SlackReceiver) -> None:
    node: dict[str, Any] = {"job": "leaf", "owners": [], "children": []}
    for i in range(5_000):
        node = {"job": f"j{i}", "owners": [], "children": [node]}
    results = _delivery.deliver(notification(pending_subtree=[node]))

    assert results is not None and results[0].ok
    assert bot.problems == [[]]
    subtree = bot.bodies[0]["blocks"][3]["text"]["text"]
    assert "(5001 jobs)" in subtree
    assert "\u2003" * 8 + "• `j4990`" in subtree  # indentation stops growing at 8 levels


def test_fit_never_splits_an_entity() -> None:
    for limit in range(1, 30):
        cut = _message.fit("&" * 100, limit)
        assert len(cut) <= limit
        assert cut.rstrip("…").replace("&amp;", "") == ""
    assert _message.fit("a<b", 10) == "a&lt;b"
    assert _message.fit("abcdef", 6) == "abcdef"
    assert _message.fit("abcdefg", 6) == "abcde…"


def test_links_keep_odd_urls_from_breaking_out() -> None:
    text = _message.link("https://x.example.com/a|b>c d?q=1&r=2", "label")

    assert text == "<https://x.example.com/a%7Cb%3Ec%20d?q=1&amp;r=2|label>"
    assert check_escaped(text, "link") == []
    assert _message.link("javascript:alert(1)", "run") == "run"


# --------------------------------------------------------------------------- settings and secrets


def test_unconfigured_plugin_is_inactive(receiver: SlackReceiver) -> None:
    plugin.moroccron_startup(config=Settings())

    assert _delivery.current() is None
    assert plugin.moroccron_notify(notification=notification()) is None
    assert receiver.received == []


def test_notifications_without_slack_targets_get_no_results(bot: SlackReceiver) -> None:
    assert plugin.moroccron_notify(notification=notification(targets=("email:ops@example.com",))) is None
    assert bot.received == []


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, receiver: SlackReceiver) -> None:
    monkeypatch.setenv(_settings.ENV_BOT_TOKEN, TOKEN)
    monkeypatch.setenv(_settings.ENV_API_URL, receiver.api_url)
    monkeypatch.setenv(_settings.ENV_TIMEOUT, "3")
    plugin.moroccron_startup(config=Settings())
    active = _delivery.current()

    assert active is not None and (active.mode, active.api_url, active.timeout) == ("bot", receiver.api_url, 3.0)
    results = _delivery.deliver(notification())
    assert results is not None and results[0].ok


def test_webhook_from_the_environment(monkeypatch: pytest.MonkeyPatch, receiver: SlackReceiver) -> None:
    monkeypatch.setenv(_settings.ENV_WEBHOOK_URL, receiver.webhook_url)
    plugin.moroccron_startup(config=Settings(plugins={"slack": {"webhook_url": ""}}))

    assert _delivery.current() is not None and _delivery.current().mode == "webhook"  # type: ignore[union-attr]
    assert _delivery.deliver(notification()) is not None
    assert receiver.received[0].path == WEBHOOK_PATH


def test_defaults() -> None:
    active = _settings.read_settings(Settings(plugins={"slack": {"bot_token": TOKEN}}), environ={})

    assert active is not None
    assert (active.mode, active.api_url, active.timeout) == ("bot", "https://slack.com/api", 10.0)
    assert active.post_message_url == "https://slack.com/api/chat.postMessage"


@pytest.mark.parametrize(
    ("table", "environ", "field", "text"),
    [
        (
            {"webhook_url": "ftp://hooks.slack.com/services/T/B/secretpath"},
            {},
            "plugins.slack.webhook_url",
            "must use http or https",
        ),
        ({"bot_token": "secret-but-not-a-token"}, {}, "plugins.slack.bot_token", "is not a Slack token"),
        (
            {},
            {"MOROCCRON_SLACK_BOT_TOKEN": "xoxb- with spaces"},
            "environment variable MOROCCRON_SLACK_BOT_TOKEN",
            "is not a Slack token",
        ),
        (
            {"webhook_url": "https://hooks.slack.com/services/T/B/secretpath", "bot_token": TOKEN},
            {},
            "plugins.slack.webhook_url / plugins.slack.bot_token",
            "both are set",
        ),
        ({"bot_token": TOKEN, "api_url": "slack.com/api"}, {}, "plugins.slack.api_url", "must use http or https"),
        ({"bot_token": TOKEN, "timeout": -1}, {}, "plugins.slack.timeout", "more than 0"),
        ({"bot_token": TOKEN, "chanel": "#x"}, {}, "plugins.slack.chanel", "unknown setting"),
    ],
)
def test_bad_settings_stop_start_up_naming_the_setting(
    table: dict[str, Any], environ: dict[str, str], field: str, text: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings.read_settings(Settings(plugins={"slack": table}), environ=environ)

    assert [e.field for e in caught.value.errors] == [field]
    assert text in str(caught.value)
    for secret in ("secretpath", TOKEN, "secret-but-not-a-token", "with spaces"):
        assert secret not in str(caught.value)


def test_startup_raises_for_bad_settings() -> None:
    with pytest.raises(ValidationError, match=r"plugins\.slack\.webhook_url"):
        plugin.moroccron_startup(config=Settings(plugins={"slack": {"webhook_url": "hooks.slack.com/x"}}))


@pytest.mark.parametrize("mode", ["bot", "webhook"])
def test_secrets_are_never_logged_or_reported(
    receiver: SlackReceiver, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.DEBUG)
    table = (
        {"bot_token": TOKEN, "api_url": receiver.api_url} if mode == "bot" else {"webhook_url": receiver.webhook_url}
    )
    plugin.moroccron_startup(config=Settings(plugins={"slack": table}))
    ok = _delivery.deliver(notification()) or []
    receiver.answer_next(500, f"echoing {TOKEN} and {WEBHOOK_PATH}")
    failed = _delivery.deliver(notification()) or []

    assert ok[0].ok and not failed[0].ok
    assert "Slack failure message for job 'etl-load'" in caplog.text
    reported = caplog.text + " ".join(r.detail for r in ok + failed) + repr(_delivery.current())
    secret = TOKEN if mode == "bot" else "s3cr3tW3bh00kP4th"  # the configured one; the other is just text
    assert secret not in reported
    if mode == "webhook":
        assert '"POST *** HTTP/1.1" 200' in caplog.text  # urllib3's own request line, redacted


def test_shutdown_removes_the_log_filter(webhook: SlackReceiver) -> None:
    http_logger = logging.getLogger("urllib3.connectionpool")
    assert any(isinstance(f, _delivery.Redact) for f in http_logger.filters)

    plugin.moroccron_shutdown()

    assert not any(isinstance(f, _delivery.Redact) for f in http_logger.filters)
    assert _delivery.current() is None


# --------------------------------------------------------------------------- the validator itself


def test_the_receivers_validator_catches_what_slack_refuses() -> None:
    """The receiver is only worth its name if it says no where Slack would."""
    good = {"text": "t", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h"}}]}
    assert validate_message(good, api=False) == []
    assert validate_message({**good, "channel": "#x"}, api=True) == []
    assert validate_message(good, api=True) == ["channel is required"]
    assert validate_message(
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]}, api=False
    )
    assert validate_message({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]}, api=False)
    assert validate_message(
        {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}, api=False
    )
    assert validate_message(
        {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]}, api=False
    )
    assert validate_message({"blocks": [{"type": "divider"}] * 51}, api=False)
    assert validate_message({"blocks": [{"type": "section"}]}, api=False)
    assert validate_message({"blocks": [{"type": "context", "elements": []}]}, api=False)
    assert validate_message({"text": "<!channel> & co"}, api=False) == [
        "text: unescaped < or > in '<!channel> & co'",
        "text: unescaped & in '<!channel> & co'",
    ]
    assert validate_message({}, api=False) == ["no_text: text is required without blocks"]


# --------------------------------------------------------------------------- installed plugin


def test_the_entry_point_loads_through_the_plugin_manager(bot: SlackReceiver) -> None:
    pm = PluginManager()
    info = {p.name: p for p in pm.list_plugins()}

    assert "slack" in info, "is the plugin installed? pip install -e plugins/slack"
    assert info["slack"].distribution == "moroccron-slack"
    assert set(info["slack"].hooks) == {
        "moroccron_notify",
        "moroccron_notify_channels",
        "moroccron_shutdown",
        "moroccron_startup",
    }
    results = pm.notify(notification=notification(targets=("slack:#data-alerts",)))
    assert [r for r in results if r.target.channel == "slack"] == [
        DeliveryResult(NotifyTarget("slack", "#data-alerts"), True, "ts 1772366730.000001 in C0DATA0001")
    ]


def test_the_plugin_manager_can_block_it() -> None:
    pm = PluginManager(disabled=["slack"])

    assert "slack" in pm.blocked
    assert "slack" not in {p.name for p in pm.list_plugins()}


# --------------------------------------------------------------------------- stderr tail


def test_the_failure_message_carries_the_stderr_tail_like_the_email(bot: SlackReceiver) -> None:
    tail = ["Traceback (most recent call last):", '  File "load.py", line 3', "KeyError: '<id> & more'"]
    results = _delivery.deliver(notification(stderr_tail=tail))

    assert results is not None and results[0].ok, results
    assert bot.problems == [[]]
    blocks = bot.bodies[0]["blocks"]
    assert blocks[3] == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": (
                '*Last lines of stderr*\n```\nTraceback (most recent call last):\n  File "load.py", line 3\n'
                "KeyError: '&lt;id&gt; &amp; more'\n```"
            ),
        },
    }
    assert blocks[4]["text"]["text"].startswith("*Waiting on this job*")  # the rest follows unchanged


def test_a_huge_stderr_tail_keeps_its_end_within_the_section_limit(bot: SlackReceiver) -> None:
    tail = [f"line {i} " + "<&>" * 200 for i in range(20)] + ["the real error: disk full"]
    results = _delivery.deliver(notification(stderr_tail=tail))

    assert results is not None and results[0].ok, results
    assert bot.problems == [[]]
    text = bot.bodies[0]["blocks"][3]["text"]["text"]
    assert len(text) <= _message.MAX_TEXT
    assert text.startswith("*Last lines of stderr*\n```\n" + _message.CUT_MARKER + "line ")  # whole lines
    assert text.endswith("the real error: disk full\n```")
    assert "line 0 " not in text and "line 19 " in text
    assert text.count("```") == 2


def test_no_stderr_section_without_a_tail_and_backticks_cannot_end_the_block(bot: SlackReceiver) -> None:
    _delivery.deliver(notification(event="recovery"))
    _delivery.deliver(notification(stderr_tail=["```", "ok"]))

    assert bot.problems == [[], []]
    assert not any("stderr" in str(b) for b in bot.bodies[0]["blocks"])
    assert bot.bodies[1]["blocks"][3]["text"]["text"].count("```") == 2


def test_fit_tail_never_splits_an_entity() -> None:
    for limit in range(len(_message.CUT_MARKER) + 1, len(_message.CUT_MARKER) + 30):
        cut = _message.fit_tail("&" * 100, limit)
        assert len(cut) <= limit and cut.startswith(_message.CUT_MARKER)
        assert cut.removeprefix(_message.CUT_MARKER).replace("&amp;", "") == ""
    assert _message.fit_tail("a\nb<c", 20) == "a\nb&lt;c"
