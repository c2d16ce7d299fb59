"""Handing the memory of retired actors back to the operating system (glibc's `malloc_trim`): Python's
allocator keeps an arena while any object in it lives, so only a trim returns the rest. What it frees,
and what `PYTHONMALLOC=malloc` changes: README, Performance."""
from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS where the C library can; False where it cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
