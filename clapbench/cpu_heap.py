"""Keep freed memory in the process heap instead of handing it back to the kernel at every free (glibc).

A CLAP forward on the CPU allocates and frees activations of tens of MB per layer. glibc serves blocks over its
mmap threshold with mmap/munmap, so every layer pays page faults to zero fresh pages: on 2 cores a full-size HTSAT
forward spent 9.2 of its 20.7 s in the kernel. With the mmap and trim thresholds raised, the pages stay mapped and
are reused; the same forward runs ~28% faster with bit-identical outputs (benchmarks/README.md, "The allocator").
The price is that the process keeps its peak heap until it exits, which an evaluation run reaches anyway.

The command line sets this for its own process; a notebook keeps its allocator unless it calls
``keep_freed_memory()``. Users who set glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, or
``CLAPBENCH_MALLOC=default``, keep their settings.
"""

from __future__ import annotations

import os
import sys

# mallopt parameter numbers from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# the largest value mallopt takes (an int): blocks below 2 GiB come from the heap, and it is trimmed only past 2 GiB free
LARGEST = 2**31 - 1
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when set, False when left as it was
    (not Linux/glibc, or the user chose the allocator's settings)."""
    if not sys.platform.startswith("linux") or os.environ.get("CLAPBENCH_MALLOC") == "default":
        return False
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # musl and others have no mallopt thresholds to raise
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGEST)) and bool(mallopt(M_TRIM_THRESHOLD, LARGEST))
