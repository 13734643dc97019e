"""`moroccron serve` revokes, at start, the UI sessions of users removed from the auth config.

Three starts of a real process on one database with one ``session_secret``: a session
made by the first is refused by the second (boss removed), and by the third too (boss
back in the config, but the second start bumped boss's session version).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.servers import serve_process

pytestmark = pytest.mark.slow


@contextmanager
def serving(tmp_path: Path, users: str) -> Iterator[tuple[str, Path]]:
    env = {"MOROCCRON_AUTH_USERS": users, "MOROCCRON_SESSION_SECRET": "shared-secret"}
    with serve_process(tmp_path, env=env, check_stop=False) as served:
        yield served.url, served.log


def login(url: str, user: str, password: str) -> str:
    http = requests.Session()
    csrf = re.search(r'name="csrf" value="([^"]+)"', http.get(f"{url}/login", timeout=10).text).group(1)
    r = http.post(
        f"{url}/login", data={"user": user, "password": password, "csrf": csrf}, allow_redirects=False, timeout=30
    )
    assert r.status_code == 303, r.text
    return http.cookies["moroccron_session"]


def has_session(url: str, cookie: str) -> bool:
    r = requests.get(f"{url}/jobs", cookies={"moroccron_session": cookie}, allow_redirects=False, timeout=10)
    return r.status_code == 200


def test_a_start_revokes_the_sessions_of_removed_users(tmp_path):
    both = "boss:pw:admin,viewer:look:read"
    with serving(tmp_path, both) as (url, _):
        cookie = login(url, "boss", "pw")
        reader = login(url, "viewer", "look")
        assert has_session(url, cookie) and has_session(url, reader)
    with serving(tmp_path, "viewer:look:read") as (url, log):
        assert not has_session(url, cookie), "boss is no longer configured"
        assert has_session(url, reader), "the others keep their sessions"
        assert "UI sessions revoked" in log.read_text() and "boss" in log.read_text()
    with serving(tmp_path, both) as (url, _):
        assert not has_session(url, cookie), "revoked in the database by the previous start"
        assert has_session(url, reader)
        assert has_session(url, login(url, "boss", "pw")), "a new login works"
