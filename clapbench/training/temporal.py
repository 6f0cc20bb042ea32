"""TeminAL-style temporal post-training items (Sinha et al., arXiv 2408.09269), built from a labelled source.

Stage A (one sound or several): for each pair of clips (A, B) of different classes, the single clips
captioned with their class and the overlay "A while B" captioned "a and b" / "a while b"; stage B (order):
the concatenations "A then B" and "B then A", captioned "a before b" and "b before a". A pair's items are
one group, batched together, so each single sound is contrasted with its mixture and each order with its
reverse. Sounds are built with clapbench.temporal.items (the same builders as the ZSTE probes).
"""

from __future__ import annotations

from clapbench.data.dataset import Dataset
from clapbench.errors import DataError
from clapbench.temporal.pairs import sample_pairs
from clapbench.training.examples import Composite, Example, ExampleSet

# Training wordings: deliberately not the probes' default prompts, so evaluation measures transfer.
SINGLE = ("{a}", "{a} can be heard", "a clip with {a}")
WHILE = ("{a} and {b}", "{a} while {b}", "{a} together with {b}")
BEFORE = ("{a} before {b}", "{a} followed by {b}", "{a}, then {b}")

STAGES = {
    "A": (("A", SINGLE), ("B", SINGLE), ("A while B", WHILE)),
    "B": (("A then B", BEFORE), ("B then A", BEFORE)),
}


def variant_captions(variant: str, a: str, b: str, wordings: tuple[str, ...]) -> tuple[str, ...]:
    """The captions of one item: the class names in the order the item plays them."""
    first, second = (b, a) if variant in ("B", "B then A") else (a, b)
    return tuple(w.format(a=first, b=second) for w in wordings)


def temporal_examples(spec, dataset: Dataset, stage: str, n_pairs: int, seed: int, clip_seconds: float) -> ExampleSet:
    """Stage ``stage`` items of ``n_pairs`` seeded cross-class pairs of ``dataset`` (a single-label task)."""
    if stage not in STAGES:
        raise DataError(f"--temporal-stage {stage}: expected A (single vs mixed sounds) or B (order)")
    if any(len(item.labels) != 1 for item in dataset.items):
        raise DataError(f"task {spec.name}: temporal post-training needs a single-label source (one class per clip)")
    pairs = sample_pairs(dataset, n_pairs, seed)
    examples = []
    for g, pair in enumerate(pairs):
        a = spec.display_name(dataset.classes[pair.label_a])
        b = spec.display_name(dataset.classes[pair.label_b])
        for variant, wordings in STAGES[stage]:
            sound = Composite(variant, dataset.absolute(pair.a), dataset.absolute(pair.b), clip_seconds)
            examples.append(Example(sound, variant_captions(variant, a, b, wordings), group=g))
    source = {
        "kind": "temporal",
        "stage": stage,
        "task": spec.name,
        "data_root": str(dataset.root),
        "pairs": len(pairs),
        "pair_seed": seed,
        "clip_seconds": clip_seconds,
        "variants": [v for v, _ in STAGES[stage]],
    }
    return ExampleSet(examples, source)
