"""Find the leading Mesos master from a ``--master`` spec.

A spec is one of::

    HOST:PORT                      a master (leader or standby: a standby answers 307)
    http://HOST:PORT  https://...  the same, with an explicit scheme
    zk://[USER:PASS@]H1:2181,H2:2181/PATH
                                   ask ZooKeeper which master leads (USER and PASS
                                   percent-encoded; they authenticate the session
                                   with ZooKeeper's digest scheme, for masters whose
                                   nodes are not world-readable)

Mesos masters elect their leader in ZooKeeper: each contender creates an ephemeral
sequential node under PATH, and the contender with the lowest sequence number leads.
Since Mesos 0.24 the node is ``json.info_<seq>`` and holds the MasterInfo as JSON; older
masters wrote ``info_<seq>`` with a binary protobuf, which we ignore (a cluster that old
does not speak the v1 HTTP API anyway).

ZooKeeper holds a master's address, not how to speak to it: masters found there, and
``HOST:PORT`` specs, are reached with ``https`` when the detector is told the cluster
uses TLS (``tls=True``), else with ``http``.

Why not only HOST:PORT and the 307 redirect? Because a fixed address is a single point
of failure: when that master is down there is nobody to redirect us. With ``zk://`` we
always find whichever master leads now.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from moroccron.address import host_port
from moroccron.errors import MoroccronError
from moroccron.zk import hide_secrets_in_kazoo_logs, read_zk_url, redact

log = logging.getLogger("moroccron.mesos.detect")

DEFAULT_MASTER_PORT = 5050
JSON_PREFIX = "json.info_"
LEGACY_PREFIX = "info_"

__all__ = [
    "MasterDetectionError",
    "MasterDetector",
    "MasterSpec",
    "detect_master",
    "leader_from_children",
    "master_address",
    "parse_spec",
    "redact",
]


class MasterDetectionError(MoroccronError):
    """The leading master cannot be found (bad spec, ZooKeeper unreachable, no leader)."""


class ZkClient(Protocol):
    """The slice of :class:`kazoo.client.KazooClient` the detector uses.

    Spelled out so tests can hand in a small fake instead of a ZooKeeper server.
    """

    def start(self, timeout: float = ...) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def get_children(self, path: str) -> list[str]: ...

    def get(self, path: str) -> tuple[bytes, Any]: ...

    def ChildrenWatch(self, path: str, func: Callable[[list[str]], Any]) -> Any: ...


@dataclass(frozen=True, slots=True)
class MasterSpec:
    """A parsed ``--master`` value.

    ``address`` is ``host:port`` for a direct spec; for ``zk`` it is empty and
    ``zk_hosts``/``zk_path``/``zk_auth`` say where to look.
    """

    kind: str  # "direct" or "zk"
    scheme: str = "http"
    address: str = ""
    zk_hosts: str = ""
    zk_path: str = ""
    zk_auth: str | None = field(default=None, repr=False)  # "user:password" (decoded) for digest auth

    def __str__(self) -> str:
        if self.kind == "zk":
            auth = "***@" if self.zk_auth else ""
            return f"zk://{auth}{self.zk_hosts}{self.zk_path}"
        return f"{self.scheme}://{self.address}"


def parse_spec(spec: str) -> MasterSpec:
    """Parse a ``--master`` value, or raise :class:`MasterDetectionError` saying what is allowed."""
    allowed = "HOST:PORT, http(s)://HOST:PORT or zk://[USER:PASS@]HOST:PORT[,HOST:PORT...]/PATH"
    text = (spec or "").strip()
    if not text:
        raise MasterDetectionError(f"Mesos master spec is empty; allowed: {allowed}")
    try:
        if text.startswith("zk://"):
            url = read_zk_url(text)
            auth = f"{url.user}:{url.password}" if url.user else None
            hosts = ",".join(host_port(h, 2181) for h in url.hosts.split(",") if h.strip())
            return MasterSpec(kind="zk", zk_hosts=hosts, zk_path=url.path, zk_auth=auth)
        if "://" in text:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"unsupported scheme {parts.scheme!r}")
            if parts.path.strip("/") not in ("", "api/v1/scheduler"):
                raise ValueError(f"unexpected path {parts.path!r}")
            default = 443 if parts.scheme == "https" else DEFAULT_MASTER_PORT
            return MasterSpec(kind="direct", scheme=parts.scheme, address=host_port(parts.netloc, default))
        return MasterSpec(kind="direct", address=host_port(text, DEFAULT_MASTER_PORT))
    except ValueError as exc:
        raise MasterDetectionError(
            f"cannot parse Mesos master spec {redact(text)!r}: {exc}; allowed: {allowed}"
        ) from exc


def _ip_from_uint32(value: int) -> str:
    """Decode MasterInfo's deprecated ``ip`` field.

    Mesos stores the IPv4 address as the four bytes in network order reinterpreted as a
    host-order uint32, so on the (little-endian) machines Mesos runs on, 127.0.0.1 is
    written as 16777343 (0x0100007F). Packing the number little-endian gives the bytes
    back in network order.
    """
    return socket.inet_ntoa(struct.pack("<I", value & 0xFFFFFFFF))


def master_address(info: Mapping[str, Any]) -> str:
    """``host:port`` of a master from its MasterInfo JSON.

    Prefers ``address.ip`` (what the master advertises and what Mesos's own detector
    dials), then ``address.hostname``, then the deprecated top-level ``ip`` (uint32, see
    :func:`_ip_from_uint32`) / ``hostname``, then the ``pid`` (``master@IP:PORT``).
    """
    address = info.get("address") or {}
    port = address.get("port") or info.get("port")
    host = address.get("ip") or address.get("hostname")
    if not host:
        ip = info.get("ip")
        if isinstance(ip, int) and ip:
            host = _ip_from_uint32(ip)
        elif isinstance(ip, str) and ip:
            host = ip
        else:
            host = info.get("hostname")
    if (not host or not port) and isinstance(info.get("pid"), str) and "@" in info["pid"]:
        pid_host, _, pid_port = info["pid"].split("@", 1)[1].partition(":")
        host = host or pid_host
        port = port or (int(pid_port) if pid_port.isdigit() else None)
    if not host or not port:
        raise ValueError(f"MasterInfo has no usable address/hostname/ip/port: {dict(info)!r}")
    host = str(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{int(port)}"


def _sequence(name: str, prefix: str) -> int | None:
    suffix = name[len(prefix) :]
    return int(suffix) if name.startswith(prefix) and suffix.isdigit() else None


def leader_from_children(children: list[str]) -> str | None:
    """Name of the leader's node: the ``json.info_`` child with the lowest sequence number.

    Legacy ``info_`` nodes (protobuf, Mesos < 0.24) and unrelated nodes (e.g. the
    replicated log's ``log_replicas``) are ignored. None when no master is contending.
    """
    numbered = [(seq, name) for name in children if (seq := _sequence(name, JSON_PREFIX)) is not None]
    return min(numbered)[1] if numbered else None


def _default_zk_client(spec: MasterSpec, timeout: float) -> ZkClient:
    from kazoo.client import KazooClient  # imported here: only zk:// specs need kazoo

    hide_secrets_in_kazoo_logs()
    auth = [("digest", spec.zk_auth)] if spec.zk_auth else None
    client: ZkClient = KazooClient(hosts=spec.zk_hosts, timeout=timeout, auth_data=auth)
    return client


class MasterDetector:
    """Answers "which master leads now?" for a ``--master`` spec, and tells when that changes.

    For a direct spec the answer is always the configured address (a standby redirects
    us with 307, which the client follows). For ``zk://`` one ZooKeeper session is opened
    lazily and kept until :meth:`close`, so repeated detections during re-subscription
    are cheap and :meth:`watch` can follow leader changes.

    ``zk_client_factory(spec, timeout)`` exists for tests; it defaults to kazoo.
    ``tls``: the masters speak HTTPS; refused with an explicit ``http://`` spec.
    """

    def __init__(
        self,
        spec: str,
        *,
        zk_timeout: float = 10.0,
        zk_client_factory: Callable[[MasterSpec, float], ZkClient] | None = None,
        tls: bool = False,
    ) -> None:
        self.spec = parse_spec(spec)
        if tls and self.spec.kind == "direct" and spec.strip().lower().startswith("http://"):
            raise MasterDetectionError(
                f"Mesos master spec {redact(spec.strip())!r} says http, but TLS is "
                "configured; write https:// or HOST:PORT"
            )
        self.tls = tls
        self.zk_timeout = zk_timeout
        self._factory = zk_client_factory or _default_zk_client
        self._zk: ZkClient | None = None
        self._lock = threading.Lock()
        self._watching = False
        self._last_leader: str | None = None

    @property
    def scheme(self) -> str:
        """``http`` or ``https``: the spec's own, or ``https`` for a cluster that uses TLS."""
        return "https" if self.tls else self.spec.scheme

    def _client(self) -> ZkClient:
        with self._lock:
            if self._zk is None:
                zk = self._factory(self.spec, self.zk_timeout)
                try:
                    zk.start(timeout=self.zk_timeout)
                except Exception as exc:  # kazoo raises its own timeout type
                    with contextlib.suppress(Exception):
                        zk.close()
                    raise MasterDetectionError(
                        f"cannot connect to ZooKeeper at {self.spec} within {self.zk_timeout:g}s: {exc}"
                    ) from exc
                self._zk = zk
            return self._zk

    def detect(self) -> str:
        """``host:port`` of the leading master, or raise :class:`MasterDetectionError`."""
        if self.spec.kind == "direct":
            return self.spec.address
        zk = self._client()
        # The leader can vanish between listing and reading (its session ended); retry a
        # few times so a failover in progress is not reported as "no leader".
        last_error = ""
        for _ in range(5):
            leader = self._read_leader(zk)
            if isinstance(leader, str):
                return leader
            last_error = leader[1]
        raise MasterDetectionError(last_error)

    def _read_leader(self, zk: ZkClient) -> str | tuple[None, str]:
        from kazoo.exceptions import NoAuthError, NoNodeError

        path = self.spec.zk_path
        try:
            children = zk.get_children(path)
        except NoNodeError:
            return (
                None,
                f"no master has registered in ZooKeeper at {self.spec}: {path} does not exist",
            )
        except NoAuthError as exc:
            raise MasterDetectionError(self._refused(path)) from exc
        name = leader_from_children(list(children))
        if name is None:
            legacy = [c for c in children if _sequence(c, LEGACY_PREFIX) is not None]
            found = f"found {sorted(children)!r}" if children else "it has no children"
            hint = "; only legacy protobuf info_ nodes (Mesos < 0.24, no v1 HTTP API)" if legacy else ""
            return None, f"no leading Mesos master in ZooKeeper at {self.spec}: {found}{hint}"
        try:
            data, _stat = zk.get(f"{path.rstrip('/')}/{name}")
        except NoNodeError:
            return None, f"leader node {name} at {self.spec} vanished while being read"
        except NoAuthError as exc:
            raise MasterDetectionError(self._refused(f"{path.rstrip('/')}/{name}")) from exc
        try:
            info = json.loads(data.decode("utf-8"))
            return master_address(info)
        except (ValueError, UnicodeDecodeError, AttributeError) as exc:
            raise MasterDetectionError(
                f"leader node {name} at {self.spec} does not hold a MasterInfo JSON: {exc}"
            ) from exc

    def _refused(self, node: str) -> str:
        given = "the credentials given" if self.spec.zk_auth else "no credentials"
        return (
            f"ZooKeeper at {self.spec} refuses to let {given} read {node}: give the masters' ZooKeeper "
            "credentials as zk://USER:PASSWORD@HOSTS/PATH"
        )

    def watch(self, callback: Callable[[str | None], None]) -> None:
        """Call ``callback(leader)`` whenever the leading master changes (None: no leader).

        For a direct spec there is nothing to watch and this does nothing. For ``zk://``
        the callback runs on kazoo's event thread: keep it short (the client only flags a
        re-subscription). Only one watch per detector.
        """
        if self.spec.kind == "direct" or self._watching:
            return
        zk = self._client()
        self._watching = True

        def on_children(children: list[str]) -> bool | None:
            if self._zk is None:
                return False  # closed: ends kazoo's watch
            try:
                result = self._read_leader(zk)
                leader = result if isinstance(result, str) else None
            except MasterDetectionError as exc:
                log.warning("%s", exc)
                leader = None
            except Exception:  # connection loss mid-read: the next change will tell
                log.debug("reading the leader after a change at %s failed", self.spec, exc_info=True)
                return None
            if leader != self._last_leader:
                self._last_leader = leader
                log.info("Mesos leading master at %s is now %s", self.spec, leader or "(none)")
                try:
                    callback(leader)
                except Exception:
                    log.exception("master-change callback failed")
            return None

        zk.ChildrenWatch(self.spec.zk_path, on_children)

    def close(self) -> None:
        """Close the ZooKeeper session, if one was opened."""
        with self._lock:
            zk, self._zk = self._zk, None
        if zk is not None:
            try:
                zk.stop()
                zk.close()
            except Exception:
                log.debug("closing the ZooKeeper client failed", exc_info=True)


def detect_master(spec: str, *, zk_timeout: float = 10.0) -> str:
    """One-shot: ``host:port`` of the leading master for ``spec`` (see module docstring)."""
    detector = MasterDetector(spec, zk_timeout=zk_timeout)
    try:
        return detector.detect()
    finally:
        detector.close()
