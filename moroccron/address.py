"""``host:port`` addresses: the one parser for what the command line, the settings and
``zk://``/Mesos master specs name as a host and a port."""

from __future__ import annotations

__all__ = ["host_port", "split_host_port"]


def host_port(text: str, default_port: int) -> str:
    """Normalise ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address to ``host:port``.

    :raises ValueError: for an empty address, no host, or a port that is not a number.
    """
    text = text.strip().rstrip("/")
    if not text:
        raise ValueError("empty address")
    if text.startswith("["):  # [::1]:5050
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
        return f"[{host}]:{int(port)}"
    if text.count(":") > 1:  # bare IPv6 without port
        return f"[{text}]:{default_port}"
    host, _, port = text.partition(":")
    if not host:
        raise ValueError(f"no host in {text!r}")
    return f"{host}:{int(port) if port else default_port}"


def split_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (the port required, 0-65535; ``[v6]:PORT`` too) -> (host, port), the host
    without brackets.

    :raises ValueError: ``"expected HOST:PORT"`` or ``"invalid port"``.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError("expected HOST:PORT")
    if not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("invalid port")
    return host.strip("[]"), int(port)
