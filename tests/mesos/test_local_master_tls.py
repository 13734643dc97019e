"""The local master over HTTPS, with and without client certificates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.mesos.certs import make_pki
from tests.mesos.conftest import MasterFactory, Scheduler, wait_until

Schedulers = Callable[..., Scheduler]


def test_https_master_streams_events_and_takes_calls(
    tmp_path: Path, make_master: MasterFactory, schedulers: Schedulers, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, server, _ = make_pki(tmp_path / "pki")
    master = make_master(tls_cert=server.cert, tls_key=server.key)
    assert master.url.startswith("https://")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(master.url + "/version", timeout=5)  # not trusted without the CA
    assert requests.get(master.url + "/version", verify=str(ca.cert), timeout=5).status_code == 200
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.cert))
    sched = schedulers(master, failover_timeout=60.0)
    sched.subscribe()
    offer = sched.offer()
    assert offer["url"]["scheme"] == "https"
    sched.must({"type": "REVIVE"})
    # A subscriber that hangs up is noticed over TLS too.
    sched.disconnect()
    wait_until(lambda: master.frameworks()[0]["connected"] is False)


def test_client_certificates_can_be_required(tmp_path: Path, make_master: MasterFactory) -> None:
    ca, server, client = make_pki(tmp_path / "pki")
    master = make_master(tls_cert=server.cert, tls_key=server.key, tls_client_ca=ca.cert)
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(master.url + "/version", verify=str(ca.cert), timeout=5)
    answer = requests.get(
        master.url + "/version", verify=str(ca.cert), cert=(str(client.cert), str(client.key)), timeout=5
    )
    assert answer.status_code == 200
