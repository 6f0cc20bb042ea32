"""Decode and preprocess clips in worker processes while the model computes on the previous batch.

Processes, not threads: the CLAP feature extractors are Python loops over frames that hold the GIL.
Results come back in input order, so the output never depends on the number of workers.

An input is a clip's path, or a picklable recipe of a wave built from clips (the temporal probes' items,
temporal.items.ItemRecipe): anything with ``build(sample_rate) -> wave`` that raises DataError naming the
clip it cannot read.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from clapbench.audio.decode import load_audio
from clapbench.errors import DataError

Prepare = Callable[[Any], Any]

_worker_prepare: Prepare | None = None
_worker_rate: int = 0
_worker_length_rule: str = "round"


@dataclass(frozen=True)
class BadClip:
    """A clip that could not be read, in place of its prepared value: the run goes on to find every such clip."""

    path: str
    message: str


class BadClipsError(DataError):
    """Clips that cannot be read, every one named (the loader reads the whole input before raising)."""

    def __init__(self, bad: Sequence[BadClip], total: int):
        self.bad = list(bad)
        self.paths = [b.path for b in bad]
        if len(bad) == 1:
            text = bad[0].message
        else:
            lines = "\n".join(f"  - {b.message}" for b in bad)
            text = f"{len(bad)} of {total} clips cannot be read (re-extract or replace these files):\n{lines}"
        super().__init__(text)


def _init_worker(prepare: Prepare | None, sample_rate: int, length_rule: str = "round") -> None:
    _init_local(prepare, sample_rate, length_rule)
    # Decoders of broken files (mpg123 above all) write notes straight to file descriptor 2; in a worker
    # they would interleave with the progress bar. What a worker has to say comes back with its result.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    # Each worker is one process doing numpy work; extra BLAS/torch threads would fight the model for cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # pragma: no cover - torch is a hard dependency, but never fail a worker on it
        pass


def _load_one(source: Any) -> Any:
    try:
        if isinstance(source, str):
            wave = load_audio(source, _worker_rate, _worker_length_rule)
        else:  # a recipe builds its wave itself, decoding its clips as it has always decoded them
            wave = source.build(_worker_rate)
    except DataError as exc:
        return BadClip(str(source), str(exc))
    return _worker_prepare(wave) if _worker_prepare is not None else wave


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as a container or taskset limits it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 2


def default_workers(device: str | None = None) -> int:
    """Decoding processes when --workers is not given: half the cores, at most 8; none for a CPU device on at
    most 2 cores, where a decoding process beside the forward slows the network's two threads more than it
    relieves them (a 200-clip run: 19.8-20.0 s in-process against 21.5 s with 1 worker; benchmarks/README.md)."""
    cores = usable_cores()
    if device is not None and device.split(":")[0] == "cpu" and cores <= 2:
        return 0
    return max(1, min(8, cores // 2))


def worker_modules(prepare: Prepare | None) -> list[str]:
    """The modules a worker needs to unpickle ``prepare``: its own and those of what it holds (e.g. transformers'
    feature extractor)."""
    if prepare is None:
        return []
    held = getattr(prepare, "__dict__", {}).values()
    return [m for m in (getattr(prepare, "__module__", None), *(type(v).__module__ for v in held)) if m and m != "builtins"]


def start_worker_server(prepare: Prepare | None = None, modules: Sequence[str] = ()) -> None:
    """Start the fork server that loader workers are forked from, and have it import what they need.

    Without this every pool's worker imports torch and transformers itself (about 1.5 s on 2 cores,
    while the model waits for its first batch), once per task. The server does those imports once per
    process, so the pools of later tasks fork warm workers. ``modules`` names them ahead of ``prepare``, so that
    the server can start while the model loads (``clapbench.models.worker_modules_of``). Idempotent; the module
    list only takes effect when the server first starts.
    """
    if "forkserver" not in mp.get_all_start_methods():
        return
    from multiprocessing import forkserver

    names = ["__main__", __name__, *modules, *worker_modules(prepare)]  # '__main__' is multiprocessing's own default
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(dict.fromkeys(names)))
    forkserver.ensure_running()


def iter_prepared(
    paths: Sequence[str],
    sample_rate: int,
    batch_size: int,
    prepare: Prepare | None = None,
    workers: int | None = None,
    length_rule: str = "round",
) -> Iterator[tuple[int, list[Any]]]:
    """Yield ``(start_index, prepared_clips)`` batches in order.

    ``prepare`` turns a mono float32 waveform at ``sample_rate`` into what the model consumes
    (for HF CLAP: its mel features); it must be picklable. ``workers=0`` runs in this process.
    ``length_rule``: the resampled length (decode.LENGTH_RULES).

    A batch holding a clip that cannot be read is not yielded; the rest of the input is still read, and
    then BadClipsError names every such clip (so the batches before and after it are computed and, by
    the caller, cached).
    """
    bad: list[BadClip] = []
    for start, batch in _iter_loaded(paths, sample_rate, batch_size, prepare, workers, length_rule):
        failed = [c for c in batch if isinstance(c, BadClip)]
        if failed:
            bad.extend(failed)
        else:
            yield start, batch
    if bad:
        raise BadClipsError(bad, len(paths))


def _iter_loaded(paths, sample_rate, batch_size, prepare, workers, length_rule) -> Iterator[tuple[int, list[Any]]]:
    workers = default_workers() if workers is None else workers
    if workers <= 0 or len(paths) <= batch_size:
        _init_local(prepare, sample_rate, length_rule)
        for start in range(0, len(paths), batch_size):
            yield start, [_load_one(p) for p in paths[start : start + batch_size]]
        return

    start_worker_server(prepare)
    ctx = mp.get_context("forkserver")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(prepare, sample_rate, length_rule))
    try:
        pending: deque[tuple[str, Future]] = deque()
        ahead = max(2 * batch_size, 4 * workers)
        it = iter(paths)
        for path in it:
            pending.append((path, pool.submit(_load_one, path)))
            if len(pending) >= ahead:
                break
        start = 0
        batch: list[Any] = []
        while pending:
            batch.append(_result(pending))
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_load_one, nxt)))
            if len(batch) == batch_size:
                yield start, batch
                start += len(batch)
                batch = []
        if batch:
            yield start, batch
    finally:
        # On an error or an abandoned iterator, drop the queued work instead of finishing it.
        pool.shutdown(wait=True, cancel_futures=True)


def _result(pending: deque) -> Any:
    path, future = pending[0]
    try:
        value = future.result()
    except BrokenProcessPool:
        # A decoder crashed its process (a native fault on a broken file): name what was being read.
        names = [p for p, _ in pending]
        shown = "\n".join(f"  - {p}" for p in names[:20]) + (f"\n  ... and {len(names) - 20} more" if len(names) > 20 else "")
        raise DataError(f"a decoding worker process died while reading one of these {len(names)} clips (a decoder crashed on a broken file); open each with `python -c 'import soundfile, sys; soundfile.read(sys.argv[1])' FILE` to find it:\n{shown}") from None
    pending.popleft()
    return value


def _init_local(prepare: Prepare | None, sample_rate: int, length_rule: str = "round") -> None:
    global _worker_prepare, _worker_rate, _worker_length_rule
    _worker_prepare, _worker_rate, _worker_length_rule = prepare, sample_rate, length_rule
