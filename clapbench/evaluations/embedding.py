"""Embed clips and prompts in batches, with decoding in worker processes and a progress bar."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from clapbench.audio.loader import iter_prepared
from clapbench.models.protocol import LoadedModel, check_embeddings


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
) -> np.ndarray:
    """(N, D) audio embeddings in the order of ``paths``."""
    model = loaded.model
    prepare = getattr(model, "audio_preprocessor", None)
    embed_features = getattr(model, "embed_audio_features", None)
    if prepare is None or embed_features is None:
        prepare, embed_features = None, model.embed_audio
    out: list[np.ndarray] = []
    task = progress.add_task(description, total=len(paths)) if progress else None
    for _, batch in iter_prepared(list(paths), loaded.sample_rate, batch_size, prepare=prepare, workers=workers):
        out.append(check_embeddings(embed_features(batch), len(batch), "embed_audio"))
        if progress is not None:
            progress.advance(task, len(batch))
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out)


def embed_texts(loaded: LoadedModel, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        out.append(check_embeddings(loaded.model.embed_text(chunk), len(chunk), "embed_text"))
    return np.concatenate(out)
