"""Handing the memory of retired actors back to the operating system.

Python's own allocator keeps an arena mapped while any object in it lives, so most of what retired
actors held stays in the process (and is reused by the next burst). Started with
`PYTHONMALLOC=malloc`, every object comes from the C library's malloc instead, and glibc's
`malloc_trim` returns the freed pages: after 10,000 actors retired, RSS fell back to 66 MB instead of
staying at 116 (README, Performance), for ~3% more CPU per request.
"""
from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS where the C library can; False where it cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
