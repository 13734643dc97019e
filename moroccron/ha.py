"""Leader election among moroccron instances, through ZooKeeper (kazoo).

Every instance serves the API; only the leader subscribes to Mesos and schedules.
Instances contend with ephemeral sequential nodes under ``<path>/election`` (kazoo's
election recipe); the node's data is the instance's HTTP address, so every instance
knows where the leader is, to report it and to send writes there.

Losing the ZooKeeper session (SUSPENDED is enough: the session may already be gone
on the server) makes the leader stop launching at once, before another instance can
be elected: ``on_lost`` runs from kazoo's state listener, synchronously. The store's
leadership epoch fences whatever might still be in flight (see Store.take_leadership).
A deposed leader does not try to become a standby again in the same process: it exits
and its supervisor (systemd, Marathon) restarts it, which is the simplest way to be
sure no state from the old leadership survives.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError

from moroccron.errors import ValidationError

__all__ = ["Leadership", "parse_zk_url"]

log = logging.getLogger("moroccron.ha")


def parse_zk_url(url: str) -> tuple[str, str]:
    """``zk://host1:2181,host2:2181/path`` -> (``host1:2181,host2:2181``, ``/path``)."""
    if not url.startswith("zk://"):
        raise ValidationError.single("zk", "must be a zk:// URL", url, "zk://HOST:PORT[,HOST:PORT...]/PATH")
    rest = url[len("zk://"):]
    hosts, slash, path = rest.partition("/")
    if "@" in hosts:
        hosts = hosts.split("@", 1)[1]
    if not hosts or not slash or not path.strip("/"):
        raise ValidationError.single("zk", "needs hosts and a path", url, "zk://HOST:PORT[,HOST:PORT...]/PATH")
    return hosts, "/" + path.strip("/")


class Leadership:
    """Contend for leadership; call ``on_elected`` when this instance leads, ``on_lost`` when it stops.

    :param zk: ``zk://HOSTS/PATH``.
    :param address: this instance's ``host:port`` (what standbys forward writes to).
    :param session_timeout: the ZooKeeper session timeout: how long a dead leader keeps
        its leadership at most, and so most of the failover time.
    """

    def __init__(self, zk: str, address: str, instance_id: str, *, on_elected: Callable[[], None],
                 on_lost: Callable[[str], None], session_timeout: float = 10.0) -> None:
        self.hosts, self.path = parse_zk_url(zk)
        self.address = address
        self.instance_id = instance_id
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.client = KazooClient(hosts=self.hosts, timeout=session_timeout)
        self.election = self.client.Election(f"{self.path}/election",
                                             json.dumps({"address": address, "instance": instance_id}))
        self.is_leader = False
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, connect_timeout: float = 15.0) -> None:
        self.client.add_listener(self._state)
        try:
            self.client.start(timeout=connect_timeout)
        except Exception as exc:
            raise ValidationError.single("zk", f"cannot connect to ZooKeeper: {exc}", self.hosts,
                                         "reachable ZooKeeper servers") from None
        self._thread = threading.Thread(target=self._contend, name="moroccron-election", daemon=True)
        self._thread.start()

    def _contend(self) -> None:
        try:
            self.election.run(self._lead)
        except KazooException as exc:
            if not self._lost.is_set():
                self._lose(f"election failed: {exc}")

    def _lead(self) -> None:
        """Runs while this instance holds the election node; returning would give it up."""
        self.is_leader = True
        log.info("elected leader at %s", self.address)
        try:
            self.on_elected()
        except Exception as exc:  # could not take over: give the leadership to someone else
            log.exception("taking over failed: %s", exc)
            self._lose(f"take-over failed: {exc}")
            return
        self._lost.wait()

    def _state(self, state: str) -> None:
        if state in (KazooState.SUSPENDED, KazooState.LOST) and self.is_leader:
            # Synchronously: nothing may launch once the session is in doubt.
            self._lose(f"ZooKeeper session {state.lower()}")

    def _lose(self, reason: str) -> None:
        if self._lost.is_set():
            return
        self._lost.set()
        was_leader, self.is_leader = self.is_leader, False
        if was_leader:
            log.critical("leadership lost: %s", reason)
        self.on_lost(reason)

    def leader(self) -> dict[str, Any] | None:
        """The current leader's ``{"address", "instance"}``, from the election nodes."""
        try:
            contenders = self.election.contenders()
        except (KazooException, NoNodeError):
            return None
        if not contenders:
            return None
        try:
            return dict(json.loads(contenders[0]))
        except (TypeError, ValueError):
            return None

    def framework_id(self) -> str | None:
        """The FrameworkID kept in ZooKeeper (``<path>/framework_id``), if any."""
        try:
            data, _ = self.client.get(f"{self.path}/framework_id")
        except NoNodeError:
            return None
        except KazooException as exc:
            log.warning("reading the FrameworkID from ZooKeeper: %s", exc)
            return None
        return data.decode() or None

    def set_framework_id(self, framework_id: str | None) -> None:
        """Keep the FrameworkID in ZooKeeper too: a database restored from an old backup
        (or a new one) must not make the framework register anew and orphan its tasks."""
        try:
            path = f"{self.path}/framework_id"
            value = (framework_id or "").encode()
            if self.client.exists(path):
                self.client.set(path, value)
            else:
                self.client.create(path, value, makepath=True)
        except KazooException as exc:
            log.warning("keeping the FrameworkID in ZooKeeper: %s (it is in the database)", exc)

    def stop(self) -> None:
        self._lost.set()
        try:
            self.election.cancel()
            self.client.stop()
            self.client.close()
        except KazooException as exc:
            log.warning("leaving ZooKeeper: %s", exc)
