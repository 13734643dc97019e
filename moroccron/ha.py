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

Trust: with ``zk://USER:PASSWORD@...`` the session authenticates (digest) and every node
this module creates carries :func:`moroccron.zk.acl` (the client's ``default_acl``, which
kazoo's election recipe uses too); at start the nodes that already exist are brought to
that ACL and persistent nodes planted among the election's (ephemeral) nodes are removed.
Whatever ZooKeeper says about the leader is still only a claim: :meth:`Leadership.leader`
reports it, and the API checks it against the database before it sends anything there
(moroccron/api/leader.py).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, KazooException, NoAuthError, NoNodeError

from moroccron.errors import ValidationError
from moroccron.zk import ZkUrl, hide_secrets_in_kazoo_logs, parse_zk_url

__all__ = ["Leadership"]

log = logging.getLogger("moroccron.ha")


class Leadership:
    """Contend for leadership; call ``on_elected`` when this instance leads, ``on_lost`` when it stops.

    :param zk: ``zk://[USER:PASSWORD@]HOSTS/PATH``.
    :param address: this instance's ``host:port`` (what standbys forward writes to).
    :param session_timeout: the ZooKeeper session timeout: how long a dead leader keeps
        its leadership at most, and so most of the failover time.
    """

    def __init__(
        self,
        zk: str,
        address: str,
        instance_id: str,
        *,
        on_elected: Callable[[], None],
        on_lost: Callable[[str], None],
        session_timeout: float = 10.0,
    ) -> None:
        self.url: ZkUrl = parse_zk_url(zk)
        self.hosts, self.path = self.url.hosts, self.url.path
        self.address = address
        self.instance_id = instance_id
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.acl = self.url.acl()
        hide_secrets_in_kazoo_logs()
        # auth_data is sent again on every reconnection; default_acl covers every create,
        # kazoo's own (the election's lock nodes, ensure_path) included.
        self.client = KazooClient(
            hosts=self.hosts, timeout=session_timeout, auth_data=self.url.auth_data, default_acl=self.acl
        )
        self.election = self.client.Election(
            f"{self.path}/election", json.dumps({"address": address, "instance": instance_id})
        )
        self.is_leader = False
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, connect_timeout: float = 15.0) -> None:
        self.client.add_listener(self._state)
        try:
            self.client.start(timeout=connect_timeout)
        except Exception as exc:
            raise ValidationError.single(
                "zk", f"cannot connect to ZooKeeper: {exc}", self.hosts, "reachable ZooKeeper servers"
            ) from None
        try:
            self.secure_nodes()
        except BaseException:
            self.client.stop()
            self.client.close()
            raise
        self._thread = threading.Thread(target=self._contend, name="moroccron-election", daemon=True)
        self._thread.start()

    def secure_nodes(self) -> None:
        """Create the election path with this instance's ACL, or bring existing nodes to it.

        Nodes created before credentials were configured are world-writable; anyone could
        plant a contender under them. They are tightened here (which needs ADMIN on them,
        true of world-writable nodes). A node these credentials cannot administer stops
        the start with an error naming it.
        """
        if self.url.user is None:
            log.warning(
                "ZooKeeper nodes under %s are writable by anyone who can reach ZooKeeper (they can plant "
                "a contender and block the election); give credentials: zk://USER:PASSWORD@HOSTS/PATH",
                self.url,
            )
            return
        election = f"{self.path}/election"
        node = f"{election} (or one above it)"
        try:
            self.client.ensure_path(election)
            for node in (self.path, election, f"{self.path}/framework_id"):
                self._own(node)
            self._clear_election(election)
        except NoAuthError:
            raise ValidationError.single(
                "zk",
                f"ZooKeeper refuses these credentials the node {node} (created by someone else, with an "
                "ACL that does not give them ADMIN, CREATE and DELETE)",
                str(self.url),
                "a path that does not exist yet or whose nodes these credentials administer",
            ) from None

    def _own(self, node: str) -> None:
        for _ in range(5):  # another instance may be tightening it at the same time
            try:
                current, stat = self.client.get_acls(node)
            except NoNodeError:
                return
            if _acl_key(current) == _acl_key(self.acl):
                return
            try:
                self.client.set_acls(node, self.acl, version=stat.aversion)
            except BadVersionError:
                continue
            log.warning("ZooKeeper node %s had the ACL %s; set it to %s", node, _describe(current), _describe(self.acl))
            return

    def _clear_election(self, election: str) -> None:
        """Every contender is an ephemeral node created by an instance; say what is not."""
        for child in self.client.get_children(election):
            node = f"{election}/{child}"
            try:
                acl, stat = self.client.get_acls(node)
            except NoNodeError:
                continue
            if stat.ephemeralOwner == 0:
                try:
                    self.client.delete(node, recursive=True)
                    log.warning(
                        "removed %s from the election: a persistent node, which no instance creates "
                        "(planted, or left by a tool)",
                        node,
                    )
                except NoNodeError:
                    pass
                except KazooException as exc:
                    log.warning(
                        "cannot remove %s, a persistent node in the election (planted?): %s; while it is "
                        "there it may block the election: remove it as a ZooKeeper admin",
                        node,
                        exc,
                    )
            elif _acl_key(acl) != _acl_key(self.acl):
                log.warning(
                    "%s in the election was not created with these credentials (ACL %s): an instance "
                    "without them, or planted. Writes are not sent to what it names unless the "
                    "database names the same leader",
                    node,
                    _describe(acl),
                )

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

    @property
    def connected(self) -> bool:
        """Whether the ZooKeeper session is connected now (a standby needs it to take over)."""
        return bool(self.client.connected)

    def leader(self) -> dict[str, Any] | None:
        """The first contender's ``{"address", "instance"}`` as ZooKeeper has it, None when
        nobody contends. A claim, not a fact: check it before use (moroccron/api/leader.py).
        A first node whose data is not such an object gives None for both values."""
        try:
            contenders = self.election.contenders()
        except (KazooException, ValueError):  # ValueError: a node's data is not UTF-8
            return None
        if not contenders:
            return None
        try:
            data = json.loads(contenders[0])
        except ValueError:
            data = None
        data = data if isinstance(data, dict) else {}
        return {key: value if isinstance(value := data.get(key), str) else None for key in ("address", "instance")}

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


def _acl_key(acl: list[Any]) -> set[tuple[int, str, str]]:
    return {(a.perms, a.id.scheme, a.id.id) for a in acl}


def _describe(acl: list[Any]) -> str:
    """An ACL for the log, without the password hashes of digest identities."""

    def who(a: Any) -> str:
        return f"digest:{a.id.id.split(':', 1)[0]}" if a.id.scheme == "digest" else f"{a.id.scheme}:{a.id.id}"

    return ", ".join(sorted(f"{who(a)}={'+'.join(a.acl_list)}" for a in acl)) or "(none)"
