"""Deterministic crash points for the resume tests: ``CLAPBENCH_TEST_KILL_AT=NAME:N`` makes this process
SIGKILL itself the Nth time it reaches ``kill_point(NAME)`` (N defaults to 1). Unset, a call costs one
environment look-up.

Points: ``embedded-batch`` (a batch of clips computed, not yet queued for the cache); an atomic write
complete in its temp file, not yet renamed, counted by suffix (``rename.npy``: a cache entry) and by
file name (``rename/esc50.json``: that result file).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "CLAPBENCH_TEST_KILL_AT"
_reached: Counter = Counter()


def kill_point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, nth = wanted.rpartition(":")
    if not nth.isdigit():
        point, nth = wanted, "1"
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
