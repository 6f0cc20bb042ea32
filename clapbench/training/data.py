"""Seeded batches of (mel features, is_longer, caption) for contrastive training.

The order of examples is a pure function of (seed, epoch): resuming at any step replays exactly the
batches an uninterrupted run would have seen, whatever the number of loader workers. Each index the
sampler yields carries its epoch, so a clip's random crop and its drawn caption depend on (seed, epoch,
example) and never on which worker loads it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np
import torch

from clapbench.audio.decode import load_audio
from clapbench.models.hf_clap import HFClapPreprocessor
from clapbench.temporal.items import build_variant, fit_length
from clapbench.training.examples import Composite, Example


def item_seed(seed: int, epoch: int, index: int) -> int:
    return zlib.crc32(f"{seed}/{epoch}/{index}".encode())


class ClipCaptionDataset(torch.utils.data.Dataset):
    """``dataset[(epoch, i)]`` -> (mel, is_longer, caption) of example i, as the model's feature extractor makes them.

    A clip no longer than the model's clip length (and not fused) has the same features every epoch;
    those are kept in memory (``cache``) in whichever process computes them.
    """

    def __init__(self, examples: list[Example], feature_extractor, seed: int = 0, cache: bool = True):
        self.examples = examples
        self.fe = feature_extractor
        self.sample_rate = int(feature_extractor.sampling_rate)
        self.seed = int(seed)
        self.cache: dict[int, tuple[np.ndarray, bool]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.examples)

    def load_wave(self, sound: str | Composite) -> np.ndarray:
        if isinstance(sound, str):
            return load_audio(sound, self.sample_rate)
        n = int(round(sound.clip_seconds * self.sample_rate))
        a = fit_length(load_audio(sound.path_a, self.sample_rate), n)
        b = fit_length(load_audio(sound.path_b, self.sample_rate), n)
        return build_variant(sound.variant, a, b)

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, bool, str]:
        epoch, index = key
        ex = self.examples[index]
        s = item_seed(self.seed, epoch, index)
        caption = ex.captions[s % len(ex.captions)]
        hit = self.cache.get(index) if self.cache is not None else None
        if hit is not None:
            return hit[0], hit[1], caption
        wave = self.load_wave(ex.sound)
        mel, longer = HFClapPreprocessor(self.fe, seed=s)(wave)
        if self.cache is not None and len(wave) <= self.fe.nb_max_samples and self.fe.truncation != "fusion":
            self.cache[index] = (mel, longer)
        return mel, longer, caption


def collate(batch: list[tuple[np.ndarray, bool, str]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    mels = torch.from_numpy(np.stack([b[0] for b in batch]))
    longer = torch.tensor([[b[1]] for b in batch], dtype=torch.bool)
    return mels, longer, [b[2] for b in batch]


def epoch_batches(groups: list[list[int]], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's global batches: groups shuffled with (seed, epoch), packed whole into batches of
    ``batch_size`` examples; the incomplete last batch is dropped (a contrastive batch needs its size)."""
    order = np.random.default_rng([seed, epoch]).permutation(len(groups))
    flat = [i for g in order for i in groups[g]]
    n = len(flat) // batch_size
    return [flat[k * batch_size : (k + 1) * batch_size] for k in range(n)]


def example_groups(examples: list[Example]) -> list[list[int]]:
    """Indices grouped by Example.group (ungrouped examples alone), in first-seen order."""
    groups: dict[int, list[int]] = {}
    out: list[list[int]] = []
    for i, ex in enumerate(examples):
        if ex.group < 0:
            out.append([i])
        elif ex.group in groups:
            groups[ex.group].append(i)
        else:
            groups[ex.group] = [i]
            out.append(groups[ex.group])
    return out


def _worker_init(_: int) -> None:
    # One process doing numpy feature extraction: extra torch threads would fight the training for cores.
    torch.set_num_threads(1)


def rank_loader(
    dataset: ClipCaptionDataset,
    batches: list[list[int]],
    epoch: int,
    rank: int,
    world_size: int,
    workers: int,
    seed: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    """This rank's shard (a contiguous slice) of each global batch, loaded by ``workers`` processes."""
    shards = []
    for batch in batches:
        per = len(batch) // world_size
        shards.append([(epoch, i) for i in batch[rank * per : (rank + 1) * per]])
    if not shards:
        return iter(())
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=shards,
        num_workers=workers,
        collate_fn=collate,
        worker_init_fn=_worker_init if workers else None,
        # Its own generator: creating a loader must not advance the global torch RNG (dropout's).
        generator=torch.Generator().manual_seed(seed),
        multiprocessing_context="forkserver" if workers else None,
        persistent_workers=False,
    )
    return iter(loader)
