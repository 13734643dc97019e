"""The ZooKeeper trust boundary end to end: two ``moroccron serve`` processes with API
tokens, electing through a real ZooKeeper with ``zk://USER:PASSWORD@...`` (percent-encoded),
over PostgreSQL, debug logging on.

- the credentials are used (every node carries the ACL; without them nothing can be
  planted) and appear nowhere: not in the logs (kazoo's request logging included), not
  in ``/api/v1/status``;
- a standby forwards an authenticated write to the genuine leader;
- someone who can write to ZooKeeper anyway (its credentials leaked, or an ensemble
  shared with less trusted users) plants a contender ahead of the leader naming a
  receiver: the receiver gets nothing, the client a clear 503, ``/leader`` does not name it.
"""

from __future__ import annotations

import json

import pytest
import requests
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from moroccron.api.leader import MISMATCH
from moroccron.zk import acl
from tests.e2e.harness import wait_for
from tests.ha.cluster import Cluster
from tests.receivers import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.zookeeper, pytest.mark.postgres]

USER, PASSWORD = "moroccron", "Zk:p@ss/w0rd"
ENCODED = "moroccron:Zk%3Ap%40ss%2Fw0rd"
TOKEN = "tok-admin-3c1f"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PLANTED = "planted__lock__-0000000001"
JOBS = """
from moroccron import Job

ping = Job(name="ping", command="true", schedule="*/5 * * * * *", catchup="none")
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(
        tmp_path_factory.mktemp("zk-trust"),
        JOBS,
        size=2,
        agents=1,
        zk_auth=ENCODED,
        env={"MOROCCRON_AUTH_TOKENS": f"{TOKEN}:admin", "MOROCCRON_LOG_LEVEL": "DEBUG"},
        headers=ADMIN,
    )
    with c.running():
        yield c


def zk(cluster: Cluster, *, auth: bool) -> KazooClient:
    client = KazooClient(hosts=cluster.zk.address, auth_data=[("digest", f"{USER}:{PASSWORD}")] if auth else None)
    client.start(timeout=15)
    return client


def standby_of(cluster: Cluster):
    leader = cluster.leader()
    standby = next(i for i in cluster.instances if i is not leader)
    wait_for(
        lambda: (s := standby.status()) and s.get("leader_address") == f"127.0.0.1:{leader.port}",
        30,
        what="the standby to see the leader",
    )
    return leader, standby


def test_credentials_are_used_and_shown_nowhere(cluster):
    leader, standby = standby_of(cluster)
    path = cluster.zk_path
    owner, anonymous = zk(cluster, auth=True), zk(cluster, auth=False)
    try:
        election = f"{path}/election"
        nodes = [path, election, f"{path}/framework_id", *(f"{election}/{c}" for c in owner.get_children(election))]
        assert len(nodes) == 5, nodes  # two contenders
        for node in nodes:
            assert set(owner.get_acls(node)[0]) == set(acl(USER, PASSWORD)), node
        with pytest.raises(NoAuthError):
            anonymous.create(f"{election}/{PLANTED}", b'{"address": "127.0.0.1:4599", "instance": "evil"}')
        with pytest.raises(NoAuthError):
            anonymous.set(f"{path}/framework_id", b"evil")
    finally:
        owner.stop()
        owner.close()
        anonymous.stop()
        anonymous.close()
    for instance in (leader, standby):
        status = requests.get(f"{instance.url}/api/v1/status", headers=ADMIN, timeout=5).text
        assert PASSWORD not in status and "p%40ss" not in status
        log = instance.log.read_text(errors="replace")
        assert f"contending for leadership through zk://***@127.0.0.1:{instance.proxy.port}{path}" in log
        assert "scheme='digest', auth='***'" in log, "kazoo's debug logging ran, masked"
        assert PASSWORD not in log and "p%40ss" not in log and "w0rd" not in log


def test_a_standby_forwards_an_authenticated_write_to_the_genuine_leader(cluster):
    leader, standby = standby_of(cluster)
    job = {"name": "forwarded", "command": "true"}
    r = requests.post(f"{standby.url}/api/v1/jobs", json=job, headers=ADMIN, timeout=30)
    assert r.status_code == 201, r.text
    assert requests.get(f"{leader.url}/api/v1/jobs/forwarded", headers=ADMIN, timeout=5).status_code == 200
    assert requests.get(f"{standby.url}/leader", headers=ADMIN, timeout=5).json() == {
        "leader": f"127.0.0.1:{leader.port}"
    }


def test_a_contender_planted_with_zookeeper_write_access_gets_nothing(cluster):
    leader, standby = standby_of(cluster)
    evil = Receiver(status=201, path="/api/v1/jobs", body=b'{"stolen": true}')
    evil_address = evil.url.split("/")[2]
    attacker = zk(cluster, auth=True)  # holds ZooKeeper's credentials, not the database's
    node = f"{cluster.zk_path}/election/{PLANTED}"
    try:
        attacker.create(node, json.dumps({"address": evil_address, "instance": "evil"}).encode(), ephemeral=True)
        job = {"name": "stolen", "command": "true"}
        r = requests.post(f"{standby.url}/api/v1/jobs", json=job, headers=ADMIN, timeout=30)
        assert r.status_code == 503 and r.headers["retry-after"] == "2" and r.json()["error"] == MISMATCH
        assert requests.get(f"{standby.url}/leader", headers=ADMIN, timeout=5).json() == {"leader": ""}
        status = standby.status()
        assert status["leader_address"] is None and status["leader_problem"] == MISMATCH
        assert evil.bodies == [] and evil.headers == [], "the planted address got nothing"
        assert requests.get(f"{leader.url}/api/v1/jobs/stolen", headers=ADMIN, timeout=5).status_code == 404
        log = standby.log.read_text(errors="replace")
        assert log.count(f"ZooKeeper's first contender is instance 'evil' at '{evil_address}'") == 1
        # the planted node gone, writes reach the leader again
        attacker.delete(node)
        r = requests.post(f"{standby.url}/api/v1/jobs", json=job, headers=ADMIN, timeout=30)
        assert r.status_code == 201 and evil.bodies == []
    finally:
        attacker.stop()
        attacker.close()
        evil.close()
