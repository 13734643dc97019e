"""SQL state: the :class:`Store` repository and, in :mod:`moroccron.store.models`, its schema."""

from moroccron.store.stats import JobStats
from moroccron.store.store import JobRecord, Store, normalize_url

__all__ = ["JobRecord", "JobStats", "Store", "normalize_url"]
