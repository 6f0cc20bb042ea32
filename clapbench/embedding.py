"""The embedding step: clips and prompts through the model in batches fixed by their order, decoding in
worker processes, the embedding cache (passed by the caller: the task's, or None) and a progress bar.

Every evaluation embeds through here (clips: ``embed_clips``, which also takes the temporal probes' item
recipes, built in the workers; prompts and captions: ``embed_texts``; a captioner: ``caption_clips``); waves
built in memory (check-model's clips) go through ``models.contract.embed_waves``, the same fast path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from clapbench import distributed
from clapbench.audio.loader import default_workers, iter_prepared
from clapbench.errors import ClapbenchError
from clapbench.killpoints import kill_point
from clapbench.models.contract import LoadedModel, audio_forward, check_embeddings

if TYPE_CHECKING:  # pragma: no cover
    from clapbench.cache import EmbeddingCache

def l2_normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


class ClipRate(TextColumn):
    """Clips per second since the task started."""

    def __init__(self):
        super().__init__("")

    def render(self, task):
        from rich.text import Text

        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.1f} clips/s" if speed else "   ... clips/s", style="cyan")


def make_progress(console=None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        ClipRate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def embed_clips(
    loaded: LoadedModel,
    paths: Sequence[Any],
    batch_size: int = 32,
    workers: int | None = None,
    progress: Progress | None = None,
    description: str = "embedding",
    cache: "EmbeddingCache | None" = None,
    counted_as: str = "audio",
) -> np.ndarray:
    """(N, D) audio embeddings in the order of ``paths`` (clips' paths, or item recipes: audio.loader).

    Clips are embedded in batches fixed by their order and ``batch_size`` (clips 0..B-1, B..2B-1, ...),
    whatever the cache holds: a batch found whole in the cache is not decoded, any other is embedded
    whole and stored, so an interrupted run keeps what it finished and every clip is always computed
    in the same company, which makes a resumed run bit-identical to an uninterrupted one. ``counted_as``:
    the cache counts' prefix ("items" for the temporal probes' items). ``workers`` None: the default for the
    model's device (audio.loader.default_workers).
    """
    paths = list(paths)
    workers = default_workers(loaded.device) if workers is None else workers
    keys = cache.in_company(cache.audio_keys(paths), batch_size) if cache is not None else [None] * len(paths)
    found, missing = _whole_batches(cache.load("audio", keys, batch_size) if cache is not None else {}, len(paths), batch_size)
    shard = distributed.active()
    if shard is not None:  # under torchrun: the ranks agree on what is cached, then each computes its share
        found, missing = _agreed(found, len(paths), batch_size)
    mine = _share(missing, batch_size, shard)
    # Asked only when something is left to compute: a model known from its manifest is then built.
    prepare, embed_features = audio_forward(loaded.model) if mine else (None, None)
    computed: list[np.ndarray] = []
    failure: ClapbenchError | None = None
    done = 0
    task = progress.add_task(description, total=len(paths), completed=len(found)) if progress else None
    try:
        # ``mine`` is whole batches, all full but the input's last: batching it by batch_size gives those batches.
        for start, batch in iter_prepared(
            [paths[i] for i in mine], loaded.sample_rate, batch_size, prepare=prepare, workers=workers, length_rule=loaded.resampled_length
        ) if mine else ():
            emb = check_embeddings(embed_features(batch), len(batch), "embed_audio")
            kill_point("embedded-batch")
            computed.append(emb)
            if cache is not None:
                cache.store("audio", [keys[i] for i in mine[start : start + len(batch)]], emb, batch_size)
            if progress is not None:  # under torchrun, the other ranks are taken to keep pace with this one
                done += len(batch)
                progress.update(task, completed=min(len(paths), len(found) + done * (shard.world if shard is not None else 1)))
    except ClapbenchError as exc:
        if shard is None:
            raise
        failure = exc  # raised by every rank together, below, so that none waits for the others forever
    finally:
        if cache is not None:
            cache.flush()  # an interrupted run keeps every batch it finished
    if shard is not None:
        computed = _gathered(mine, computed, failure, missing, paths)
    if cache is not None:
        cache.counts[f"{counted_as}_computed"] += len(missing)
        cache.counts[f"{counted_as}_from_cache"] += len(found)
    if progress is not None:
        progress.update(task, completed=len(paths))
    return _assemble(len(paths), found, missing, computed, cache)


def _agreed(found: dict[int, np.ndarray], n: int, batch_size: int) -> tuple[dict[int, np.ndarray], list[int]]:
    """The batches every rank found cached (a batch one rank misses is computed again by its owner), and the rest."""
    starts = [s for s in range(0, n, batch_size) if s in found]
    agreed = set.intersection(*(set(s) for s in distributed.all_gather(starts)))
    return {i: v for i, v in found.items() if i - i % batch_size in agreed}, [i for i in range(n) if i - i % batch_size not in agreed]


def _share(missing: list[int], batch_size: int, shard) -> list[int]:
    """This rank's rows of the batches to compute: the batches dealt in turn (all of them in one process)."""
    if shard is None:
        return missing
    starts = sorted({i - i % batch_size for i in missing})[shard.rank :: shard.world]
    mine = set(starts)
    return [i for i in missing if i - i % batch_size in mine]


def _gathered(mine: list[int], computed: list[np.ndarray], failure, missing: list[int], paths: list[str]) -> list[np.ndarray]:
    """Every rank's computed rows, as the one array of the ``missing`` rows in order; every rank's failure raised
    on all of them (clips nobody could read named together, in dataset order)."""
    from clapbench.audio.loader import BadClipsError

    block = np.concatenate(computed) if computed else None
    bad = getattr(failure, "bad", None)
    report = None if failure is None else (str(failure), bad)
    parts = distributed.all_gather((mine if block is not None else [], block, report))
    reports = [r for _, _, r in parts if r is not None]
    if reports:
        if all(b is not None for _, b in reports):
            order = {str(p): i for i, p in enumerate(paths)}
            raise BadClipsError(sorted((b for _, bs in reports for b in bs), key=lambda b: order.get(b.path, -1)), len(paths))
        raise ClapbenchError("; ".join(dict.fromkeys(text for text, _ in reports)))
    rows = {}
    for their_rows, their_block, _ in parts:
        if their_block is not None:
            rows.update(zip(their_rows, their_block))
    return [np.stack([rows[i] for i in missing])] if missing else []


def _whole_batches(found: dict[int, np.ndarray], n: int, batch_size: int) -> tuple[dict[int, np.ndarray], list[int]]:
    """(the entries of the batches found whole, the positions of every other batch): a batch killed
    half-stored is computed again whole, never completed in other company."""
    whole: dict[int, np.ndarray] = {}
    missing: list[int] = []
    for start in range(0, n, batch_size):
        rows = range(start, min(start + batch_size, n))
        if all(i in found for i in rows):
            whole.update((i, found[i]) for i in rows)
        else:
            missing.extend(rows)
    return whole, missing


def embed_texts(loaded: LoadedModel, texts: Sequence[str], batch_size: int = 256, cache: "EmbeddingCache | None" = None) -> np.ndarray:
    """(N, D) text embeddings; with a cache, only the batches not found there go through the text tower
    (batches fixed by the order of ``texts`` and ``batch_size``, as for clips)."""
    texts = list(texts)
    keys = cache.in_company(cache.text_keys(texts), batch_size) if cache is not None else [None] * len(texts)
    found, missing = _whole_batches(cache.load("text", keys) if cache is not None else {}, len(texts), batch_size)
    computed = []
    try:
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            emb = check_embeddings(loaded.model.embed_text([texts[i] for i in chunk]), len(chunk), "embed_text")
            computed.append(emb)
            if cache is not None:
                cache.store("text", [keys[i] for i in chunk], emb)
                cache.counts["text_computed"] += len(chunk)
    finally:
        if cache is not None:
            cache.flush()
    if cache is not None:
        cache.counts["text_from_cache"] += len(found)
    return _assemble(len(texts), found, missing, computed, cache)


def _assemble(n: int, found: dict[int, np.ndarray], missing: list[int], computed: list[np.ndarray], cache) -> np.ndarray:
    """Put cached and computed rows back in input order."""
    new = np.concatenate(computed) if computed else None
    dims = {v.shape[0] for v in found.values()} | ({new.shape[1]} if new is not None else set())
    if not dims:
        return np.zeros((0, 0), dtype=np.float32)
    if len(dims) > 1:
        from clapbench.errors import ModelError

        raise ModelError(
            f"cached embeddings in {cache.root} have {sorted(dims)[0]} dimensions but the model now returns "
            f"{new.shape[1]}; clear them with `clapbench cache clear --model-sha {str(cache.loaded.sha256)[:12]}`"
        )
    out = np.empty((n, dims.pop()), dtype=np.float32)
    if found:
        rows = np.fromiter(found, dtype=np.int64, count=len(found))
        out[rows] = np.stack([found[i] for i in rows.tolist()])
    if new is not None:
        out[np.asarray(missing, dtype=np.int64)] = new
    return out


def caption_clips(loaded: LoadedModel, paths: Sequence[str], batch_size: int = 32, workers: int | None = None,
                  progress: Progress | None = None, description: str = "captioning") -> list[str]:
    """One generated caption per clip, in the order of ``paths`` (decoding in worker processes, as embed_clips).

    A model with ``audio_preprocessor`` and ``caption_features`` gets its windows prepared in the workers;
    otherwise ``caption`` receives the decoded waves. Captions are not cached.
    """
    from clapbench.errors import ModelError

    model = loaded.model
    prepare = getattr(model, "audio_preprocessor", None)
    generate = getattr(model, "caption_features", None)
    if prepare is None or generate is None:
        prepare, generate = None, model.caption
    out: list[str] = []
    task = progress.add_task(description, total=len(paths)) if progress else None
    workers = default_workers(loaded.device) if workers is None else workers
    for _, batch in iter_prepared(list(paths), loaded.sample_rate, batch_size, prepare=prepare, workers=workers):
        captions = generate(batch)
        if not isinstance(captions, list) or len(captions) != len(batch) or not all(isinstance(c, str) for c in captions):
            raise ModelError(f"caption() returned {type(captions).__name__} for {len(batch)} clips; expected a list of {len(batch)} strings")
        out.extend(captions)
        if progress is not None:
            progress.advance(task, len(batch))
    return out
