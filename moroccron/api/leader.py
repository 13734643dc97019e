"""Which leader address a standby may trust: ZooKeeper's claim, checked against the database.

A standby sends writes, with the client's credentials, to the leader's HTTP address,
and ``/leader`` and ``/api/v1/status`` tell clients where it is. ZooKeeper's election
says who leads, but anyone who can write there (everyone, without credentials and
ACLs) can plant a contender that names any address. The database is only writable by
holders of its credentials, and an instance records itself there
(``Store.take_leadership``: instance id, address, epoch) as soon as it is elected, before
it schedules. So an address is trusted only when the first contender in ZooKeeper and
the leader recorded in the database are the same instance at the same address, and,
when the ``peers`` setting lists addresses, that address is one of them.

Why no signature on the election node (an HMAC with a key from configuration): the key
would have to be on every instance, next to the database's credentials, so it would
prove no more than the database record does (that the writer is one of the people
who run moroccron). And a signed node could be replayed after its leader has gone,
while the database names the current leader only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LeaderCheck", "LeaderVerifier"]

log = logging.getLogger("moroccron.api.leader")

NO_LEADER = "no leader is elected right now; retry in a few seconds"
NOT_RECORDED = "the elected leader has not recorded itself in the database yet; retry in a few seconds"
MISMATCH = (
    "the leader named in ZooKeeper is not the leader recorded in the database, so this instance sends "
    "nothing to it; retry in a few seconds (if this lasts, an operator should read this instance's log)"
)
NOT_A_PEER = (
    "the leader's address is not one of the configured peers, so this instance sends nothing to it "
    "(an operator should read this instance's log)"
)

_REMEMBERED = 256  # distinct mismatches warned about, at most (an attacker may vary them)


@dataclass(frozen=True, slots=True)
class LeaderCheck:
    """``address``: the leader's verified ``host:port``, or None; then ``problem`` says why."""

    address: str | None
    problem: str | None = None


class LeaderVerifier:
    """Checks ZooKeeper's leader against the database's; warns once per distinct mismatch.

    :param peers: ``host:port`` of every instance; empty means any address the database names.
    """

    def __init__(self, peers: tuple[str, ...] = ()) -> None:
        self.peers = frozenset(peers)
        self._warned: set[tuple[Any, ...]] = set()
        self._lock = threading.Lock()

    def check(self, claimed: Mapping[str, Any] | None, recorded: Mapping[str, Any] | None) -> LeaderCheck:
        """``claimed``: ``{"address", "instance"}`` from ZooKeeper (None: nobody contends);
        ``recorded``: ``Store.leader()``."""
        if claimed is None:
            return LeaderCheck(None, NO_LEADER)
        if recorded is None:
            return LeaderCheck(None, NOT_RECORDED)
        zk = (claimed.get("instance"), claimed.get("address"))
        db = (recorded.get("leader_id"), recorded.get("address"))
        if zk != db:
            self._warn_once(
                ("mismatch", *zk, *db),
                "ZooKeeper's first contender is instance %.100r at %.100r but the database's leader is "
                "instance %.100r at %.100r: nothing is forwarded to either, and neither is reported. "
                "Normal for a moment during a failover; if it lasts, someone who can write to "
                "ZooKeeper may have planted a contender: look at the election nodes and their ACLs",
                *zk,
                *db,
            )
            return LeaderCheck(None, MISMATCH)
        return self.check_address(db[1])

    def check_address(self, address: str | None) -> LeaderCheck:
        """Without ZooKeeper the database's leader is the leader: only ``peers`` applies."""
        if not address:
            return LeaderCheck(None, NO_LEADER)
        if self.peers and address not in self.peers:
            self._warn_once(
                ("peer", address),
                "the leader's address %.100r is not in the peers setting (%s): "
                "nothing is forwarded to it, and it is not reported",
                address,
                ", ".join(sorted(self.peers)),
            )
            return LeaderCheck(None, NOT_A_PEER)
        return LeaderCheck(address)

    def _warn_once(self, key: tuple[Any, ...], message: str, *args: Any) -> None:
        with self._lock:
            if key in self._warned:
                return
            if len(self._warned) >= _REMEMBERED:
                self._warned.clear()
            self._warned.add(key)
        log.warning(message, *args)
