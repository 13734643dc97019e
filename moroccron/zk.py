"""ZooKeeper URLs with credentials, and the ACL moroccron puts on the nodes it creates.
Every ``zk://`` URL moroccron reads (``--zk``, a ``zk://`` Mesos master, the local
master's registration) is parsed here; ``host:port`` addresses in :mod:`moroccron.address`.

A URL is ``zk://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/PATH``. USER and PASSWORD are
percent-decoded (write ``@`` as ``%40``, ``/`` as ``%2F``, ``%`` as ``%25``); the
password may hold ``:`` and ``@`` as they are, the user may hold neither (ZooKeeper's
digest scheme splits ``user:password`` at the first colon).

With credentials, the session authenticates with ZooKeeper's ``digest`` scheme and
every node moroccron creates carries :func:`acl`: everything for that identity, read
for anyone. Reading is left open on purpose: the nodes hold instances' HTTP addresses,
instance ids and the Mesos FrameworkID, none of them secret, and monitoring or an
operator's ``zkCli.sh`` should see who leads without the password. Without credentials
the nodes are world-writable, as before, and a warning says so at start.

Credentials never appear in logs or errors: :class:`ZkUrl` shows itself as
``zk://***@HOSTS/PATH``, and :func:`hide_secrets_in_kazoo_logs` masks what kazoo itself
logs at DEBUG (every request it sends, the digest ``user:password`` among them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote

__all__ = [
    "ZkUrl",
    "acl",
    "hide_secrets_in_kazoo_logs",
    "parse_zk_url",
    "read_zk_url",
    "redact",
    "split_credentials",
]

ALLOWED = "zk://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/PATH (USER and PASSWORD percent-encoded)"


def split_credentials(netloc: str) -> tuple[str | None, str | None, str]:
    """``user:pass@hosts`` -> (user, password, hosts), percent-decoded; no credentials -> (None, None, hosts).

    :raises ValueError: with a message that never contains the password.
    """
    if "@" not in netloc:
        return None, None, netloc
    # The hosts never hold "@", a raw password may: split at the last one.
    auth, hosts = netloc.rsplit("@", 1)
    user, colon, password = auth.partition(":")
    user, password = unquote(user), unquote(password)
    if not colon or not user or not password:
        raise ValueError("credentials must be USER:PASSWORD, both non-empty")
    if ":" in user:
        raise ValueError("the user name cannot contain ':' (ZooKeeper's digest scheme splits at the first colon)")
    return user, password, hosts


@dataclass(frozen=True)
class ZkUrl:
    """A parsed ``zk://`` URL. ``str()`` hides the credentials."""

    hosts: str
    path: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"zk://{'***@' if self.user else ''}{self.hosts}{self.path}"

    @property
    def auth_data(self) -> list[tuple[str, str]] | None:
        """What :class:`kazoo.client.KazooClient` takes as ``auth_data`` (sent on every (re)connect)."""
        return [("digest", f"{self.user}:{self.password}")] if self.user and self.password is not None else None

    def acl(self) -> list[Any]:
        """The ACL of every node moroccron creates under this URL (see the module docstring)."""
        return acl(self.user, self.password)


def acl(user: str | None, password: str | None) -> list[Any]:
    """All permissions for the digest identity ``user:password`` and read for anyone;
    without credentials, kazoo's open ACL (anyone may do anything)."""
    from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_digest_acl

    if not user or password is None:
        return list(OPEN_ACL_UNSAFE)
    return [make_digest_acl(user, password, all=True), *READ_ACL_UNSAFE]


def read_zk_url(url: str) -> ZkUrl:
    """Parse a ``zk://`` URL; the hosts are kept as written.

    :raises ValueError: saying what is wrong, never with the password in it.
    """
    if not isinstance(url, str) or not url.startswith("zk://"):
        raise ValueError("must be a zk:// URL")
    netloc, slash, path = url[len("zk://") :].partition("/")
    if "@" in path:
        # A password with a raw "/" would put part of it in the path: refuse rather than guess.
        raise ValueError("'@' after the first '/': percent-encode '/' in the credentials as %2F")
    user, password, hosts = split_credentials(netloc)
    if not hosts or not slash or not path.strip("/"):
        raise ValueError("needs hosts and a path")
    return ZkUrl(hosts, "/" + path.strip("/"), user, password)


def parse_zk_url(url: str, field_name: str = "zk") -> ZkUrl:
    """Parse a ``zk://`` URL, or raise :class:`~moroccron.errors.ValidationError` naming ``field_name``."""
    from moroccron.errors import ValidationError

    try:
        return read_zk_url(url)
    except ValueError as exc:
        raise ValidationError.single(field_name, str(exc), redact(url), ALLOWED) from None


def redact(url: str) -> str:
    """``url`` with everything between ``://`` and the last ``@`` replaced by ``***``, so it can
    go into logs and errors (the last ``@``, not the host part's: a password holding a raw
    ``/`` must not leak either)."""
    if not isinstance(url, str) or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}://{rest}"


class _HideKazooSecrets(logging.Filter):
    """Masks secrets in the request objects kazoo logs ("Sending request(xid=...): %s").

    ``Auth.auth`` is the digest ``user:password`` in clear; ``Connect.passwd`` is the
    session's password, with which anyone could take over the session (and so the
    leader's election node); digest ACL ids are a SHA-1 of ``user:password``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            try:
                record.args = tuple(_masked(arg) for arg in record.args)
            except Exception:  # a log filter must never break kazoo's connection thread
                record.msg, record.args = "(a kazoo log record that could not be masked)", ()
        return True


def _masked(value: Any, depth: int = 0) -> Any:
    if depth > 4 or not isinstance(value, (list, tuple)):
        return value
    if type(value) in (list, tuple):  # e.g. the (ACLs, stat) of a GetACL response
        return type(value)(_masked(item, depth + 1) for item in value)
    fields = getattr(value, "_fields", None)
    if not fields:
        return value
    if "perms" in fields and "id" in fields:
        return _masked_acl(value)
    changes: dict[str, Any] = {}
    if "auth" in fields:
        changes["auth"] = "***"
    if "passwd" in fields:
        changes["passwd"] = b"***"
    for name in ("acl", "acls"):
        if name in fields:
            changes[name] = _masked(getattr(value, name), depth + 1)
    return cast(Any, value)._replace(**changes) if changes else value


def _masked_acl(entry: Any) -> Any:
    ident: Any = getattr(entry, "id", None)
    if getattr(ident, "scheme", None) == "digest" and isinstance(ident.id, str):
        return entry._replace(id=ident._replace(id=ident.id.split(":", 1)[0] + ":***"))
    return entry


_FILTER = _HideKazooSecrets()


def hide_secrets_in_kazoo_logs() -> None:
    """Install the filter on kazoo's logger (idempotent); call before creating a client."""
    logger = logging.getLogger("kazoo.client")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
