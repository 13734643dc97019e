"""The HTTP server of ``moroccron serve``: its socket bound first, uvicorn without signal handling.

The listening socket is bound before anything else happens at start-up, and handed to
uvicorn later. A second instance started by mistake on the same address therefore
fails at once, with an error naming the address, before it has touched the database,
let alone taken the leadership from the instance already serving there.

uvicorn handles SIGTERM and SIGINT itself, and raises the signal again once it has
shut down, which kills the process (status 143) before anything after ``run()`` can
stop the scheduler. moroccron stops in an order of its own (:mod:`moroccron.signals`,
:mod:`moroccron.instance`), so this server leaves signals alone.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator

import uvicorn

from moroccron.config import parse_bind
from moroccron.errors import ValidationError

__all__ = ["BACKLOG", "GRACEFUL_SECONDS", "HttpServer", "bind_listener"]

BACKLOG = 2048
"""uvicorn's default listen backlog."""

GRACEFUL_SECONDS = 5
"""How long requests in progress get to finish once the server stops (then they are cancelled)."""


def bind_listener(bind: str) -> socket.socket:
    """A socket bound to ``bind`` (``HOST:PORT``) and listening.

    :raises ValidationError: naming ``bind`` when the address is taken or cannot be used.
    """
    host, port = parse_bind(bind)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValidationError.single(
            "bind", f"cannot resolve the host: {exc.strerror}", bind, "HOST:PORT with an address of this machine"
        ) from None
    family, _, _, _, address = infos[0]
    try:
        # SO_REUSEADDR (set by create_server) lets a restart reuse a port in TIME_WAIT; it
        # never lets two processes listen on the same port.
        return socket.create_server(address, family=family, backlog=BACKLOG, dualstack_ipv6=False)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            problem = (
                "address already in use: another moroccron instance (or another program) listens there; "
                "nothing was changed"
            )
        elif exc.errno == errno.EADDRNOTAVAIL:
            problem = "not an address of this machine"
        elif exc.errno == errno.EACCES:
            problem = "permission denied (ports below 1024 need privileges)"
        else:
            problem = f"cannot listen there: {exc.strerror or exc}"
        raise ValidationError.single("bind", problem, bind, "a free HOST:PORT on this machine") from None


class HttpServer(uvicorn.Server):
    """uvicorn's server, minus its signal handlers (moroccron installs its own)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
