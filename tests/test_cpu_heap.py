"""The CLI keeps freed memory in the heap (glibc): a freed large block stays mapped for the next one to reuse."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# A 64 MiB block is over glibc's largest dynamic mmap threshold (32 MiB): by default it is a fresh mmap that free
# unmaps at once (resident memory falls by the block); kept in the heap, its pages stay resident for reuse.
PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from clapbench.cpu_heap import keep_freed_memory
    applied = keep_freed_memory() if sys.argv[1] == "keep" else False
    def resident():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
    block = np.ones(64 * 2**20, dtype=np.uint8)  # written: every page resident
    before = resident()
    del block
    print(json.dumps({"applied": applied, "released": before - resident()}))
""")
BLOCK = 64 * 2**20


def probe(mode: str, env: dict | None = None) -> dict:
    import json
    import os

    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_block_stays_in_the_heap():
    default, kept = probe("default"), probe("keep")
    assert not default["applied"] and default["released"] >= BLOCK * 0.9  # the allocator's default: unmapped at free
    assert kept["applied"] and kept["released"] < BLOCK * 0.1  # kept mapped, for the next block


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_users_own_allocator_settings_are_kept():
    assert probe("keep", {"MALLOC_TRIM_THRESHOLD_": "131072"})["applied"] is False
    assert probe("keep", {"CLAPBENCH_MALLOC": "default"})["applied"] is False


def test_the_command_line_sets_it_before_any_command(monkeypatch):
    from click.testing import CliRunner

    import clapbench.cli as cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1) or True)
    result = CliRunner().invoke(cli.cli, ["tasks", "--json"])
    assert result.exit_code == 0 and calls == [1]
