"""Reading a task's stdout and stderr from its sandbox, through the agent's files API.

The same path works on a real cluster and on the local master: the master's
``/master/state`` names each agent by its libprocess pid (``slave(1)@10.0.0.5:5051``);
the agent's ``/slave(1)/state`` gives each executor's sandbox ``directory``; and the
agent's ``/files/read?path=...&offset=...&length=...`` returns a slice of a file. For a
command task the executor id is the task id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests

from moroccron.errors import MoroccronError, NotFound

__all__ = ["SandboxError", "SandboxReader", "Slice"]

_PID = re.compile(r"^(?P<id>[^@]+)@(?P<host>[^:]+):(?P<port>\d+)$")
MAX_LENGTH = 1 << 20


class SandboxError(MoroccronError):
    """The sandbox cannot be read: the agent is gone, or unreachable."""


@dataclass(frozen=True)
class Slice:
    """Part of a sandbox file. ``offset + len(data.encode())`` is where the next read starts."""

    data: str
    offset: int
    size: int | None = None


class SandboxReader:
    """Finds a task's sandbox from the master, then reads files from the agent."""

    def __init__(self, master: str, *, timeout: float = 5.0, session: requests.Session | None = None) -> None:
        self.master = master if master.startswith("http") else f"http://{master}"
        self.timeout = timeout
        self.session = session or requests.Session()

    def _get(self, url: str, **params: Any) -> Any:
        try:
            resp = self.session.get(url, params=params or None, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SandboxError(f"cannot reach {url.split('?')[0]}: {exc}") from None
        if resp.status_code == 404:
            raise NotFound(f"not found on the agent: {url.split('?')[0]}")
        if not resp.ok:
            raise SandboxError(f"{url.split('?')[0]} answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()

    def agent_url(self, agent_id: str) -> str:
        """``http://host:port/slave(N)`` of the agent, from the master's state."""
        state = self._get(f"{self.master}/master/state")
        for agent in state.get("slaves", ()):
            if agent.get("id") == agent_id:
                match = _PID.match(agent.get("pid", ""))
                if match:
                    return f"http://{match['host']}:{match['port']}/{match['id']}"
        raise NotFound(f"agent {agent_id} is not known to the master (it may have been removed)")

    def sandbox(self, agent_id: str, framework_id: str, task_id: str) -> tuple[str, str]:
        """(agent base URL, sandbox directory) of ``task_id``."""
        agent = self.agent_url(agent_id)
        state = self._get(f"{agent}/state")
        for fw in (*state.get("frameworks", ()), *state.get("completed_frameworks", ())):
            if fw.get("id") != framework_id:
                continue
            for ex in (*fw.get("executors", ()), *fw.get("completed_executors", ())):
                if ex.get("id") == task_id or ex.get("source") == task_id:
                    return agent.rsplit("/", 1)[0], ex["directory"]
        raise NotFound(f"no sandbox for task {task_id} on agent {agent_id} (it may have been garbage collected)")

    def read(
        self, agent_id: str, framework_id: str, task_id: str, name: str, *, offset: int = 0, length: int = 65536
    ) -> Slice:
        """Read ``name`` (``stdout`` or ``stderr``) from ``offset``; ``offset=-1`` reads the last ``length``
        bytes."""
        if name not in ("stdout", "stderr"):
            raise ValueError(f"not a sandbox log: {name!r}")
        base, directory = self.sandbox(agent_id, framework_id, task_id)
        path = f"{directory}/{name}"
        length = max(0, min(length, MAX_LENGTH))
        size = int(self._get(f"{base}/files/read", path=path, offset=-1).get("offset", 0))
        start = max(0, size - length) if offset < 0 else offset
        data = self._get(f"{base}/files/read", path=path, offset=start, length=length)
        return Slice(data=data.get("data", ""), offset=int(data.get("offset", start)), size=size)
