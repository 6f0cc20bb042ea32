"""The embedding step: clips and prompts through the model in batches fixed by their order, decoding in
worker processes, the embedding cache (passed by the caller: the task's, or None) and a progress bar.

Every evaluation embeds through here (clips: ``embed_clips``; prompts and captions: ``embed_texts``; a
captioner: ``caption_clips``); waves built in memory (the temporal probes' items, check-model's clips) go
through ``models.contract.embed_waves``, the same fast path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from clapbench.audio.loader import iter_prepared
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
    paths: Sequence[str],
    batch_size: int = 32,
    workers: int | None = None,
    progress: Progress | None = None,
    description: str = "embedding",
    cache: "EmbeddingCache | None" = None,
) -> np.ndarray:
    """(N, D) audio embeddings in the order of ``paths``.

    Clips are embedded in batches fixed by their order and ``batch_size`` (clips 0..B-1, B..2B-1, ...),
    whatever the cache holds: a batch found whole in the cache is not decoded, any other is embedded
    whole and stored, so an interrupted run keeps what it finished and every clip is always computed
    in the same company, which makes a resumed run bit-identical to an uninterrupted one.
    """
    paths = list(paths)
    keys = cache.in_company(cache.audio_keys(paths), batch_size) if cache is not None else [None] * len(paths)
    found, missing = _whole_batches(cache.load("audio", keys, batch_size) if cache is not None else {}, len(paths), batch_size)
    # Asked only when something is left to compute: a model known from its manifest is then built.
    prepare, embed_features = audio_forward(loaded.model) if missing else (None, None)
    computed: list[np.ndarray] = []
    task = progress.add_task(description, total=len(paths), completed=len(found)) if progress else None
    try:
        # ``missing`` is whole batches, all full but the input's last: batching it by batch_size gives those batches.
        for start, batch in iter_prepared(
            [paths[i] for i in missing], loaded.sample_rate, batch_size, prepare=prepare, workers=workers, length_rule=loaded.resampled_length
        ) if missing else ():
            emb = check_embeddings(embed_features(batch), len(batch), "embed_audio")
            kill_point("embedded-batch")
            computed.append(emb)
            if cache is not None:
                cache.store("audio", [keys[i] for i in missing[start : start + len(batch)]], emb, batch_size)
                cache.counts["audio_computed"] += len(batch)
            if progress is not None:
                progress.advance(task, len(batch))
    finally:
        if cache is not None:
            cache.flush()  # an interrupted run keeps every batch it finished
    if cache is not None:
        cache.counts["audio_from_cache"] += len(found)
    return _assemble(len(paths), found, missing, computed, cache)


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
    for _, batch in iter_prepared(list(paths), loaded.sample_rate, batch_size, prepare=prepare, workers=workers):
        captions = generate(batch)
        if not isinstance(captions, list) or len(captions) != len(batch) or not all(isinstance(c, str) for c in captions):
            raise ModelError(f"caption() returned {type(captions).__name__} for {len(batch)} clips; expected a list of {len(batch)} strings")
        out.extend(captions)
        if progress is not None:
            progress.advance(task, len(batch))
    return out
