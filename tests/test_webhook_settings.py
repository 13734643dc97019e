"""[webhooks] URLs are checked at start, as http_trigger_urls are: a file:// URL (or any
non-http(s) one) was accepted before and failed, or worse, only when first used."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from moroccron.cli import main
from moroccron.config import Settings
from moroccron.errors import ValidationError
from moroccron.hooks.manager import PluginError, PluginManager
from moroccron.notifiers import webhook


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///etc/passwd", "must use http or https"),
        ("gopher://hooks.example.com/x", "must use http or https"),
        ("https:///no-host", "has no host"),
        ("https://hooks.example.com/a b", "contains whitespace"),
        ("http://hooks.example.com:99999/x", "is not a valid URL"),
        ("hooks.example.com/x", "must use http or https"),
    ],
)
def test_a_bad_webhook_url_stops_startup_naming_it(url: str, problem: str) -> None:
    config = Settings(webhooks={"ok": "https://hooks.example.com/fine", "ops": url})
    with pytest.raises(PluginError, match=r"plugin 'webhook', moroccron_startup") as info:
        PluginManager(load_entrypoints=False).startup(config=config, store=None)  # type: ignore[arg-type]
    cause = info.value.__cause__
    assert isinstance(cause, ValidationError)
    assert [e.field for e in cause.errors] == ["webhooks.ops"] and problem in str(cause)


def test_secrets_in_a_refused_url_are_masked() -> None:
    with pytest.raises(ValidationError) as info:
        webhook.check_webhooks({"ops": "ftp://user:s3cret@hooks.example.com/x?token=t0ken"})
    assert "s3cret" not in str(info.value) and "t0ken" not in str(info.value)


def test_good_urls_are_kept() -> None:
    table = {"ops": "https://hooks.example.com/moroccron?token=x", "dev": "http://127.0.0.1:8080/hook"}
    PluginManager(load_entrypoints=False).startup(config=Settings(webhooks=table), store=None)  # type: ignore[arg-type]
    assert webhook._webhooks == table


def test_serve_refuses_to_start_with_a_file_webhook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "moroccron.toml"
    config.write_text('[webhooks]\nops = "file:///etc/passwd"\n')
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        code = main(
            ["serve", "--db", f"sqlite:///{tmp_path / 'm.db'}", "--config", str(config), "--bind", "127.0.0.1:0"]
        )
    finally:  # serve sets the root logger's level, which other tests' log capture relies on
        root.setLevel(level)
        root.handlers[:] = handlers
    assert code == 1
    err = capsys.readouterr().err
    assert "webhooks.ops" in err and "must use http or https" in err
