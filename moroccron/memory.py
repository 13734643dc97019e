"""Giving memory back to the operating system after a burst of allocations.

Loading every job at the start of a leadership decodes each stored spec (JSON text,
SQLAlchemy rows, intermediate dicts); once the specs are built, that scaffolding is
freed, but glibc's allocator keeps the freed pages in its heap, so the process stays
as large as at the peak of the load for as long as it leads. ``malloc_trim`` hands the
unused pages back. Elsewhere (another C library, another system) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Callable

__all__ = ["release_free_memory"]

log = logging.getLogger(__name__)

_trim: Callable[[int], int] | None = None
_looked = False


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim, _looked
    if not _looked:
        _looked = True
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _trim = libc.malloc_trim
            except (OSError, AttributeError):  # musl and others have no malloc_trim
                _trim = None
    return _trim


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system; True if the allocator could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    try:
        trim(0)
    except Exception:  # never worth failing for: it only gives memory back
        log.debug("malloc_trim failed", exc_info=True)
        return False
    return True
