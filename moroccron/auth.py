"""Who may call the API: bearer tokens and HTTP Basic users, each with a role.

Roles are ordered: ``read`` < ``write`` < ``admin``. Reading needs ``read``; anything
that changes state needs ``write``; owners and plugin settings need ``admin``.

Credentials come from a TOML file (``auth_file`` setting)::

    [[tokens]]
    name = "ci-pipeline"
    token = "sha256$<hex>"            # `moroccron auth token` (or the token itself: a warning is logged)
    role = "write"

    [[users]]
    name = "chronos-sync"            # HTTP Basic, as Chronos clients send
    password = "pbkdf2_sha256$..."   # `moroccron auth hash`
    role = "write"

or from the environment: ``MOROCCRON_AUTH_TOKENS="token:role,..."`` and
``MOROCCRON_AUTH_USERS="user:password:role,..."``. With no credentials at all,
authentication is off, which ``serve`` allows only on a loopback address unless
``--insecure`` is given.

What each check costs, and why (docs/security.md says more):

- a bearer token is high-entropy, so it is stored as a fast hash (``sha256$<hex>``) and
  found with one SHA-256 and one dict lookup: an unknown token costs the same
  microseconds however many tokens are configured. Clear-text tokens are hashed so at
  load. Tokens in the old ``pbkdf2_sha256$`` form still work, but each unknown token then
  costs one PBKDF2 per such entry: those checks run off the event loop, a bounded number
  at a time (:class:`AuthBusy` beyond that), and a warning at start recommends the fast form;
- a password is chosen by a person, so it is stored with PBKDF2 (slow on purpose). The
  check runs in a worker thread; a Basic request or a login for an unknown user is
  checked against a dummy hash of the same cost, so both take the same time. Good
  answers are remembered (a bounded cache), so a client sending the same Basic header
  on every request pays the hash once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from moroccron.errors import FieldError, ValidationError

__all__ = ["ROLES", "AuthBusy", "Authenticator", "Principal", "hash_secret", "hash_token", "verify_secret"]

log = logging.getLogger("moroccron.auth")

ROLES = ("read", "write", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
HASH_PREFIX = "pbkdf2_sha256"
TOKEN_PREFIX = "sha256"
ITERATIONS = 200_000
MIN_ITERATIONS, MAX_ITERATIONS = 1_000, 10_000_000  # a typo in a hash must not make every check take minutes
MIN_TOKEN_LENGTH = 20  # characters of a token hashed with `auth hash --token`: fast hashes need entropy
CACHE_SIZE = 10_000  # remembered good Basic headers
HASH_QUEUE = 32  # slow checks running or waiting, beyond which requests get AuthBusy
NICE = 10  # CPU priority of the hashing threads: about a tenth of a busy core against normal threads


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    via: str  # "token", "basic", "session" or "anonymous"

    def can(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


ANONYMOUS_ADMIN = Principal("anonymous", "admin", "anonymous")


class AuthBusy(Exception):
    """Too many slow credential checks are running or waiting: try again shortly."""


def _pbkdf2(secret: str, salt: str, iterations: int) -> str:
    """The one place a slow hash is computed (tests count the calls and iterations here)."""
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt.encode(), iterations).hex()


def _lower_priority() -> None:
    """Run this worker thread at a low CPU priority (Linux keeps a nice value per thread):
    a flood of credentials to hash then takes only the CPU that serving requests leaves."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: plain priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def hash_secret(secret: str, *, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    """The stored form of a password: PBKDF2-SHA256, salted, slow on purpose."""
    salt = salt or secrets.token_hex(16)
    return f"{HASH_PREFIX}${iterations}${salt}${_pbkdf2(secret, salt, iterations)}"


def hash_token(token: str) -> str:
    """The stored form of a high-entropy token: its SHA-256, cheap to check."""
    return f"{TOKEN_PREFIX}${_digest(token).hex()}"


def _parse_pbkdf2(stored: str) -> tuple[int, str, str] | None:
    try:
        _, iterations, salt, digest = stored.split("$", 3)
        return int(iterations), salt, digest
    except ValueError:
        return None


def verify_secret(secret: str, stored: str) -> bool:
    """Constant-time check of ``secret`` against its stored form (PBKDF2, SHA-256, or clear text)."""
    if stored.startswith(HASH_PREFIX + "$"):
        parsed = _parse_pbkdf2(stored)
        if parsed is None:
            return False
        iterations, salt, digest = parsed
        return hmac.compare_digest(_pbkdf2(secret, salt, iterations), digest)
    if stored.startswith(TOKEN_PREFIX + "$"):
        return hmac.compare_digest(_digest(secret).hex(), stored.split("$", 1)[1].lower())
    return hmac.compare_digest(secret.encode(), stored.encode())


@dataclass(frozen=True)
class _Credential:
    name: str
    secret: str
    role: str


class _Slow:
    """A check that needs a slow hash: run in a worker thread by the async entry points."""

    def __init__(self, check: Callable[[], Principal | None]) -> None:
        self.check = check


_Step = Principal | _Slow | None


class Authenticator:
    """Checks ``Authorization`` headers and login forms against the configured tokens and users.

    The ``*_async`` methods are for the event loop: every slow hash runs in this
    authenticator's own worker threads (``hash_workers`` of them, ``hash_queue`` checks
    at most running or waiting), never on the loop and never in the thread pool that
    route handlers use. The plain methods block; the CLI and tests use them.
    """

    def __init__(
        self,
        tokens: list[_Credential] | None = None,
        users: list[_Credential] | None = None,
        *,
        hash_workers: int | None = None,
        hash_queue: int = HASH_QUEUE,
    ) -> None:
        # A clear-text token is hashed here, once, and only its hash is kept.
        self.tokens = [
            t
            if t.secret.startswith((HASH_PREFIX + "$", TOKEN_PREFIX + "$"))
            else _Credential(t.name, hash_token(t.secret), t.role)
            for t in tokens or []
        ]
        self._token_by_digest: dict[bytes, tuple[bytes, _Credential]] = {}  # digest: (digest, credential)
        self._slow_tokens: list[_Credential] = []  # pbkdf2_sha256$ entries: no digest to look up
        self._tokens_by_name: dict[str, _Credential] = {}
        for tok in self.tokens:
            self._tokens_by_name.setdefault(tok.name, tok)
            if tok.secret.startswith(HASH_PREFIX + "$"):
                self._slow_tokens.append(tok)
            else:
                digest = bytes.fromhex(tok.secret.split("$", 1)[1])
                self._token_by_digest.setdefault(digest, (digest, tok))
        # A clear-text password is hashed here, at the same cost as stored ones: a known
        # user with a clear password must not answer faster than an unknown one.
        self.users = {
            u.name: u if u.secret.startswith(HASH_PREFIX + "$") else _Credential(u.name, hash_secret(u.secret), u.role)
            for u in users or []
        }
        costs = [p[0] for u in self.users.values() if (p := _parse_pbkdf2(u.secret))] or [ITERATIONS]
        # Checked when the user is unknown: the same work as the costliest real user's hash.
        self._dummy = f"{HASH_PREFIX}${max(costs)}${secrets.token_hex(16)}${secrets.token_hex(32)}"
        self._cache: OrderedDict[bytes, Principal] = OrderedDict()
        self._lock = threading.Lock()
        self.hash_workers = hash_workers or max(1, min(4, (os.cpu_count() or 2) // 2))
        self.hash_queue = hash_queue
        self._pending = 0
        self._executor: ThreadPoolExecutor | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.tokens or self.users)

    @property
    def slow_tokens(self) -> list[str]:
        """Names of tokens stored in the slow PBKDF2 form."""
        return [t.name for t in self._slow_tokens]

    def roles(self) -> dict[str, str]:
        """Every principal that can log in, with its role (a user wins over a token of the same name)."""
        return {**{t.name: t.role for t in reversed(self.tokens)}, **{u.name: u.role for u in self.users.values()}}

    def role_of(self, name: str) -> str | None:
        user = self.users.get(name)
        if user is not None:
            return user.role
        token = self._tokens_by_name.get(name)
        return token.role if token is not None else None

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
            tokens.append(
                _credential(
                    f"MOROCCRON_AUTH_TOKENS[{i}]", {"name": f"env-token-{i}", "token": token, "role": role}, "token"
                )
            )
        for i, item in enumerate(x for x in environ.get("MOROCCRON_AUTH_USERS", "").split(",") if x.strip()):
            parts = item.strip().split(":")
            if len(parts) < 3:
                raise ValidationError.single(
                    f"MOROCCRON_AUTH_USERS[{i}]", "must be user:password:role", "***", "user:password:role"
                )
            name, password, role = parts[0], ":".join(parts[1:-1]), parts[-1]
            users.append(
                _credential(
                    f"MOROCCRON_AUTH_USERS[{i}]", {"name": name, "password": password, "role": role}, "password"
                )
            )
        for cred in (*tokens, *users):
            if not cred.secret.startswith((HASH_PREFIX + "$", TOKEN_PREFIX + "$")):
                log.warning(
                    "credential %r is stored in clear text; store `moroccron auth hash%s` output instead",
                    cred.name,
                    " --token" if cred in tokens else "",
                )
        for cred in tokens:
            if cred.secret.startswith(HASH_PREFIX + "$"):
                log.warning(
                    "token %r is stored as pbkdf2_sha256: every unknown bearer token then costs a slow "
                    "hash (run off the event loop, a few at a time); store its fast form instead: "
                    "`moroccron auth hash --token`",
                    cred.name,
                )
        return cls(tokens, users)

    # ------------------------------------------------------------------ checks

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal an ``Authorization`` header proves, or None. Blocks on slow hashes."""
        return self._finish(self._begin(authorization))

    async def authenticate_async(self, authorization: str | None) -> Principal | None:
        """Same, for the event loop: slow hashes run in a worker thread. Raises :class:`AuthBusy`."""
        return await self._finish_async(self._begin(authorization))

    def check_user(self, name: str, password: str) -> Principal | None:
        """For the UI's login form: a user and password, or a token's name and the token."""
        return self._finish(self._begin_login(name, password))

    async def check_user_async(self, name: str, password: str) -> Principal | None:
        return await self._finish_async(self._begin_login(name, password))

    @staticmethod
    def _finish(step: _Step) -> Principal | None:
        return step.check() if isinstance(step, _Slow) else step

    async def _finish_async(self, step: _Step) -> Principal | None:
        if not isinstance(step, _Slow):
            return step
        with self._lock:
            if self._pending >= self.hash_queue:
                raise AuthBusy(f"{self._pending} credential checks are already running or waiting")
            self._pending += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self.hash_workers, thread_name_prefix="moroccron-auth", initializer=_lower_priority
                )
            executor = self._executor

        def run() -> Principal | None:
            # Released when the hash is done, not when the caller stops waiting: a client
            # that disconnects does not free a place while its hash still takes a worker.
            try:
                return step.check()
            finally:
                with self._lock:
                    self._pending -= 1

        try:
            future = executor.submit(run)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        return await asyncio.wrap_future(future)

    def _begin(self, authorization: str | None) -> _Step:
        if not self.enabled:
            return ANONYMOUS_ADMIN
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if not value:
            return None
        if scheme.lower() == "bearer":
            return self._begin_token(value, "token")
        if scheme.lower() != "basic":
            return None
        key = _digest(authorization)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        try:
            name, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        cred = self.users.get(name)
        stored = cred.secret if cred is not None else self._dummy

        def check() -> Principal | None:
            ok = verify_secret(password, stored)  # the same cost for a known and an unknown user
            if not ok or cred is None:
                return None
            principal = Principal(cred.name, cred.role, "basic")
            self._remember(key, principal)
            return principal

        return _Slow(check)

    def _begin_token(self, token: str, via: str) -> _Step:
        digest = _digest(token)
        found = self._token_by_digest.get(digest)
        if found is not None and hmac.compare_digest(found[0], digest):
            return Principal(found[1].name, found[1].role, via)
        if not self._slow_tokens:
            return None

        def check() -> Principal | None:
            for slow in self._slow_tokens:
                if verify_secret(token, slow.secret):
                    # Learnt: this token is found by its digest from now on. At most one
                    # entry per slow credential, so this cannot grow without bound.
                    self._token_by_digest[digest] = (digest, slow)
                    return Principal(slow.name, slow.role, via)
            return None

        return _Slow(check)

    def _begin_login(self, name: str, password: str) -> _Step:
        if not self.enabled:
            return ANONYMOUS_ADMIN
        cred = self.users.get(name)
        stored = cred.secret if cred is not None else self._dummy
        token = self._tokens_by_name.get(name) if cred is None else None

        def check() -> Principal | None:
            ok = verify_secret(password, stored)  # always paid, so a token's name is no faster than nobody
            if cred is not None:
                return Principal(cred.name, cred.role, "session") if ok else None
            if token is not None and verify_secret(password, token.secret):
                return Principal(token.name, token.role, "session")
            return None

        return _Slow(check)

    def _remember(self, key: bytes, principal: Principal) -> None:
        with self._lock:
            self._cache[key] = principal
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _credential(where: str, entry: object, secret_key: str) -> _Credential:
    if not isinstance(entry, Mapping):
        raise ValidationError.single(where, "must be a table", entry, f"{{name, {secret_key}, role}}")
    errors = []
    name, secret, role = entry.get("name"), entry.get(secret_key), entry.get("role", "read")
    if not isinstance(name, str) or not name:
        errors.append(FieldError(f"{where}.name", "is required", name, "a non-empty name"))
    if not isinstance(secret, str) or not secret:
        errors.append(FieldError(f"{where}.{secret_key}", "is required", None, "a secret or its hash"))
    elif secret.startswith(HASH_PREFIX + "$"):
        parsed = _parse_pbkdf2(secret)
        if parsed is None or not MIN_ITERATIONS <= parsed[0] <= MAX_ITERATIONS:
            errors.append(
                FieldError(
                    f"{where}.{secret_key}",
                    "is not a usable pbkdf2_sha256 hash",
                    "***",
                    f"pbkdf2_sha256$ITERATIONS$SALT$HEX with {MIN_ITERATIONS:,} to "
                    f"{MAX_ITERATIONS:,} iterations (`moroccron auth hash`)",
                )
            )
    elif secret.startswith(TOKEN_PREFIX + "$"):
        hexpart = secret.split("$", 1)[1]
        if secret_key == "password":
            errors.append(
                FieldError(
                    f"{where}.password",
                    "sha256$ is for tokens: a password needs a slow hash",
                    "***",
                    "pbkdf2_sha256$... from `moroccron auth hash`, or the password",
                )
            )
        elif len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart.lower()):
            errors.append(
                FieldError(
                    f"{where}.token",
                    "is not a sha256 hash",
                    "***",
                    "sha256$ and 64 hex digits (`moroccron auth hash --token`)",
                )
            )
    if role not in ROLES:
        errors.append(FieldError(f"{where}.role", "unknown role", role, " | ".join(ROLES)))
    if errors:
        raise ValidationError(errors)
    return _Credential(str(name), str(secret), str(role))
