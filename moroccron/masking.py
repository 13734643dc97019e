"""Hidden environment values: what a job's ``env`` shows to whom, and how edits keep them.

People put passwords in ``env``. Every output of a job (the native and Chronos APIs,
the UI, the CLI, notification payloads) goes through :func:`mask_job` or
:func:`mask_env`, which replace a value by :data:`MASK` and keep its key:

- keys listed in the job's ``secret_env`` are hidden from everyone;
- the other values are shown to those who may change the job (``write`` and
  ``admin``), and hidden from ``read``.

The stored spec keeps the real values, and the Mesos task gets them. A client that reads
a job and writes it back (a read-modify-write, a Chronos sync script, the UI's edit form)
sends :data:`MASK` where it was shown one: :func:`keep_hidden` puts the stored value back
instead of storing the placeholder, and a key that was secret stays secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from moroccron.errors import FieldError, ValidationError

__all__ = ["MASK", "keep_hidden", "mask_env", "mask_job", "reveals_env"]

MASK = "********"
"""What a hidden value reads as. Sent back in a write, it means "keep the stored value"."""


def reveals_env(principal: Any) -> bool:
    """Whether ``principal`` sees the values of env entries that are not secret.

    None is no authentication at all (everyone is the anonymous admin).
    """
    return principal is None or principal.can("write")


def mask_env(env: Mapping[str, str], secret: Iterable[str] = (), reveal: bool = False) -> dict[str, str]:
    """``env`` with the hidden values replaced by :data:`MASK` (the secret keys always,
    every key unless ``reveal``)."""
    hidden = set(secret)
    return {k: v if reveal and k not in hidden else MASK for k, v in env.items()}


def mask_job(data: dict[str, Any], reveal: bool) -> dict[str, Any]:
    """A job's JSON form (:meth:`JobSpec.to_dict`) with its hidden env values masked;
    changed in place and returned."""
    env = data.get("env")
    if env:
        data["env"] = mask_env(env, data.get("secret_env") or (), reveal)
    return data


def keep_hidden(data: Mapping[str, Any], stored: Any) -> dict[str, Any]:
    """A job body in which each env value sent as :data:`MASK` is the stored value again.

    A key that is secret in ``stored`` (a :class:`~moroccron.model.JobSpec`, or None when
    the job does not exist yet) and comes back masked stays secret, even if the body's
    ``secret_env`` leaves it out (a Chronos client that drops the ``moroccron`` object):
    a client that never saw the value cannot mean to publish it. To make a secret key
    an ordinary one, send its value.

    :raises ValidationError: a masked value for a key that has no stored value.
    """
    env = data.get("env")
    if not isinstance(env, Mapping) or MASK not in env.values():
        return dict(data)
    stored_env: Mapping[str, str] = stored.env if stored is not None else {}
    stored_secret = set(stored.secret_env) if stored is not None else set()
    errors: list[FieldError] = []
    out: dict[Any, Any] = {}
    kept_secret: list[str] = []
    for key, value in env.items():
        if value != MASK:
            out[key] = value
        elif key in stored_env:
            out[key] = stored_env[key]
            if key in stored_secret:
                kept_secret.append(key)
        else:
            errors.append(
                FieldError(
                    f"env.{key}",
                    "is the placeholder of a hidden value, but no value is stored for this key",
                    MASK,
                    "the variable's value",
                )
            )
    if errors:
        name = data.get("name")
        raise ValidationError(errors, f"job {name!r}" if isinstance(name, str) else None)
    result = {**data, "env": out}
    secret = data.get("secret_env")
    if kept_secret and (secret is None or isinstance(secret, (list, tuple))):
        result["secret_env"] = list(dict.fromkeys([*(secret or ()), *kept_secret]))
    return result
