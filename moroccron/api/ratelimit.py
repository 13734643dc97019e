"""Failed sign-in attempts, limited per client address.

A token bucket per address: ``failures`` attempts may fail in a burst, and the
allowance refills at ``failures`` per ``window`` seconds. While an address has no
allowance left, every attempt from it that carries credentials (a bearer token, HTTP
Basic, the login form) is refused with 429 and ``Retry-After`` *before* the
credentials are checked, so a guesser learns nothing and costs nothing. Successful
requests do not use the allowance, and other addresses are not affected.

The client address is the TCP peer, unless the peer is one of ``trusted_proxies``:
then it is taken from ``X-Forwarded-For``, read right to left past the trusted
proxies (the entries a client wrote itself stand left of them and are not believed).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["FailureLimiter", "client_address", "parse_networks"]

MAX_CLIENTS = 100_000  # addresses tracked at once; beyond that the longest-quiet one is forgotten

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """``10.0.0.5``, ``10.0.0.0/24``, ``::1``: addresses or networks. Raises ValueError naming the entry."""
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(entry) from None
    return out


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_address(scope: Mapping[str, Any], trusted: list[Network]) -> str:
    """Who sent this request, as far as can be trusted (see the module docstring)."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted:
        return peer

    def is_trusted(text: str) -> bool:
        ip = _ip(text)
        return ip is not None and any(ip in net for net in trusted)

    if not is_trusted(peer):
        return peer
    hops: list[str] = []
    for key, value in scope.get("headers") or ():
        if key.lower() == b"x-forwarded-for":
            hops += [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop if _ip(hop) is not None else peer
    return hops[0] if hops else peer


class FailureLimiter:
    """Token buckets of failed attempts, one per client address. Thread-safe."""

    def __init__(
        self,
        failures: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.failures = failures
        self.window = window
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address: (allowance, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.failures > 0 and self.window > 0

    def _allowance(self, address: str, now: float) -> float:
        allowance, at = self._buckets.get(address, (float(self.failures), now))
        return min(float(self.failures), allowance + (now - at) * self.failures / self.window)

    def retry_after(self, address: str) -> int:
        """0 if ``address`` may try now; else whole seconds until it may try once more."""
        if not self.enabled:
            return 0
        with self._lock:
            allowance = self._allowance(address, self.clock())
        if allowance >= 1:
            return 0
        return max(1, math.ceil((1 - allowance) * self.window / self.failures - 1e-9))  # 1.0000001 s is 1 s

    def failed(self, address: str) -> None:
        """Count one failed attempt from ``address``."""
        if not self.enabled:
            return
        with self._lock:
            now = self.clock()
            self._buckets[address] = (max(0.0, self._allowance(address, now) - 1), now)
            self._buckets.move_to_end(address)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)  # a full table forgets the quietest address first
