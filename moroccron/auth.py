"""Who may call the API: bearer tokens and HTTP Basic users, each with a role.

Roles are ordered: ``read`` < ``write`` < ``admin``. Reading needs ``read``; anything
that changes state needs ``write``; owners and plugin settings need ``admin``.

Credentials come from a TOML file (``auth_file`` setting)::

    [[tokens]]
    name = "ci-pipeline"
    token = "pbkdf2_sha256$200000$<salt>$<hash>"   # or the token itself (a warning is logged)
    role = "write"

    [[users]]
    name = "chronos-sync"            # HTTP Basic, as Chronos clients send
    password = "pbkdf2_sha256$..."
    role = "write"

or from the environment: ``MOROCCRON_AUTH_TOKENS="token:role,..."`` and
``MOROCCRON_AUTH_USERS="user:password:role,..."``. ``moroccron auth hash SECRET``
prints the hashed form for the file. With no credentials at all, authentication is
off, which ``serve`` allows only on a loopback address unless ``--insecure`` is given.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from moroccron.errors import FieldError, ValidationError

__all__ = ["ROLES", "Authenticator", "Principal", "hash_secret", "verify_secret"]

log = logging.getLogger("moroccron.auth")

ROLES = ("read", "write", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
HASH_PREFIX = "pbkdf2_sha256"
ITERATIONS = 200_000


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    via: str  # "token", "basic", "session" or "anonymous"

    def can(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


ANONYMOUS_ADMIN = Principal("anonymous", "admin", "anonymous")


def hash_secret(secret: str, *, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt.encode(), iterations).hex()
    return f"{HASH_PREFIX}${iterations}${salt}${digest}"


def verify_secret(secret: str, stored: str) -> bool:
    """Constant-time check of ``secret`` against a stored hash (or, if not hashed, the stored text)."""
    if stored.startswith(HASH_PREFIX + "$"):
        try:
            _, iterations, salt, digest = stored.split("$", 3)
            computed = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt.encode(), int(iterations)).hex()
        except ValueError:
            return False
        return hmac.compare_digest(computed, digest)
    return hmac.compare_digest(secret.encode(), stored.encode())


@dataclass(frozen=True)
class _Credential:
    name: str
    secret: str
    role: str


class Authenticator:
    """Checks ``Authorization`` headers against the configured tokens and users."""

    def __init__(self, tokens: list[_Credential] | None = None, users: list[_Credential] | None = None) -> None:
        self.tokens = tokens or []
        self.users = {u.name: u for u in users or []}
        # Hashing is slow by design; remember good answers so each request doesn't pay it.
        self._cache: dict[str, Principal] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.tokens or self.users)

    @classmethod
    def from_sources(cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Authenticator:
        environ = os.environ if environ is None else environ
        tokens: list[_Credential] = []
        users: list[_Credential] = []
        if path:
            p = Path(path)
            try:
                data = tomllib.loads(p.read_text())
            except FileNotFoundError:
                raise ValidationError.single("auth_file", "file not found", str(p), "a readable TOML file") from None
            except tomllib.TOMLDecodeError as exc:
                raise ValidationError.single("auth_file", f"is not valid TOML: {exc}", str(p), "TOML") from None
            for kind, secret_key, target in (("tokens", "token", tokens), ("users", "password", users)):
                for i, entry in enumerate(data.get(kind, [])):
                    target.append(_credential(f"{p}: {kind}[{i}]", entry, secret_key))
        for i, item in enumerate(x for x in environ.get("MOROCCRON_AUTH_TOKENS", "").split(",") if x.strip()):
            token, _, role = item.strip().rpartition(":")
            tokens.append(_credential(f"MOROCCRON_AUTH_TOKENS[{i}]", {"name": f"env-token-{i}", "token": token,
                                                                       "role": role}, "token"))
        for i, item in enumerate(x for x in environ.get("MOROCCRON_AUTH_USERS", "").split(",") if x.strip()):
            parts = item.strip().split(":")
            if len(parts) < 3:
                raise ValidationError.single(f"MOROCCRON_AUTH_USERS[{i}]", "must be user:password:role", "***",
                                             "user:password:role")
            name, password, role = parts[0], ":".join(parts[1:-1]), parts[-1]
            users.append(_credential(f"MOROCCRON_AUTH_USERS[{i}]", {"name": name, "password": password,
                                                                     "role": role}, "password"))
        for cred in (*tokens, *users):
            if not cred.secret.startswith(HASH_PREFIX + "$"):
                log.warning("credential %r is stored in clear text; store `moroccron auth hash` output instead",
                            cred.name)
        return cls(tokens, users)

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal an ``Authorization`` header proves, or None."""
        if not self.enabled:
            return ANONYMOUS_ADMIN
        if not authorization:
            return None
        cached = self._cache.get(authorization)
        if cached is not None:
            return cached
        scheme, _, value = authorization.partition(" ")
        principal = None
        if scheme.lower() == "bearer" and value:
            for cred in self.tokens:
                if verify_secret(value.strip(), cred.secret):
                    principal = Principal(cred.name, cred.role, "token")
                    break
        elif scheme.lower() == "basic" and value:
            try:
                name, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            cred = self.users.get(name)
            if cred is not None and verify_secret(password, cred.secret):
                principal = Principal(cred.name, cred.role, "basic")
        if principal is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[authorization] = principal
        return principal

    def check_user(self, name: str, password: str) -> Principal | None:
        """For the UI's login form."""
        cred = self.users.get(name)
        if cred is not None and verify_secret(password, cred.secret):
            return Principal(cred.name, cred.role, "session")
        for tok in self.tokens:
            if tok.name == name and verify_secret(password, tok.secret):
                return Principal(tok.name, tok.role, "session")
        return None


def _credential(where: str, entry: object, secret_key: str) -> _Credential:
    if not isinstance(entry, Mapping):
        raise ValidationError.single(where, "must be a table", entry, f"{{name, {secret_key}, role}}")
    errors = []
    name, secret, role = entry.get("name"), entry.get(secret_key), entry.get("role", "read")
    if not isinstance(name, str) or not name:
        errors.append(FieldError(f"{where}.name", "is required", name, "a non-empty name"))
    if not isinstance(secret, str) or not secret:
        errors.append(FieldError(f"{where}.{secret_key}", "is required", None, "a secret or its hash"))
    if role not in ROLES:
        errors.append(FieldError(f"{where}.role", "unknown role", role, " | ".join(ROLES)))
    if errors:
        raise ValidationError(errors)
    return _Credential(str(name), str(secret), str(role))
