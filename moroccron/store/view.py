"""Every stored job as a read-only mapping that reads on demand.

Plugins validate a job against ``existing`` (every job by name, as it will stand), and
most only ask "is there a job called X?". Handing them a dict of every job costs a full
read per change; this view answers ``in`` and ``[]`` with one indexed lookup each, and
only iterating it reads every name. Given a unit of work, it reads inside its
transaction: a check made under the job-graph lock (:meth:`Store.job_unit_of_work`) sees
what the write that follows it will be written over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from moroccron.errors import NotFound
from moroccron.model import JobSpec

if TYPE_CHECKING:
    from moroccron.store.interfaces import JobLookup

__all__ = ["StoredJobs"]


class StoredJobs(Mapping[str, JobSpec]):
    """The store's jobs with ``pending`` (name -> spec) laid over them."""

    def __init__(self, store: JobLookup, pending: Mapping[str, JobSpec] | None = None) -> None:
        self.store = store
        self.pending = dict(pending or {})

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self.pending or bool(self.store.parent_map([name]))

    def __getitem__(self, name: str) -> JobSpec:
        if name in self.pending:
            return self.pending[name]
        try:
            return self.store.get_job(name)
        except NotFound:
            raise KeyError(name) from None

    def _names(self) -> set[str]:
        return self.store.job_names() | set(self.pending)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names()))

    def __len__(self) -> int:
        return len(self._names())
