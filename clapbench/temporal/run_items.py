"""The pair list of a temporal task, and the items of all the temporal tasks of a run, embedded once.

ZSTE-1..5 and order-pairs over one source share their items: "A" of a pair is the same wave as any other item
of that clip, ZSTE-3/4/5 and order-pairs use the same concatenations, and "A then B" of one pair is "B then A"
of its reverse. The first temporal task of a run lists the distinct item recipes (items.ItemRecipe) of every
temporal task of the run, computed or kept (so a resumed run lists the same ones), in an order fixed by the
plan: tasks in plan order, each task's pairs in order, each pair's variants in items.VARIANTS order; a recipe
takes the place of its first occurrence. They are embedded once through embedding.embed_clips, as clips are:
batches fixed by that order and --batch-size, waves built in the loader's workers, the on-disk embedding cache
(keyed by the clips' file identities, the recipe and the item rules, with the batch's company), shared out
under torchrun. Each task then picks its rows. A task's numbers therefore depend on which temporal tasks its
run holds (the company of its items' batches), never on --workers, a resumption or the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clapbench.errors import DataError, TaskError
from clapbench.temporal.items import VARIANTS, ItemRecipe, ItemRules, forget_fitted, recipe
from clapbench.temporal.pairs import Pair, pairs_frame, pairs_sha256, read_pairs, sample_pairs

DEFAULT_PAIRS = 500
MEMO = "temporal.run_items"  # the RunTasks memo entry


@dataclass
class PairItems:
    pairs: list[Pair]
    frame: pd.DataFrame  # the pair list as saved
    sha256: str
    rules: ItemRules
    provenance: dict[str, Any]

    @property
    def a(self) -> np.ndarray:
        return np.array([p.label_a for p in self.pairs], dtype=int)

    @property
    def b(self) -> np.ndarray:
        return np.array([p.label_b for p in self.pairs], dtype=int)


def pair_items(spec, options, dataset) -> PairItems:
    """The pair list: read from --pairs, or sampled with --seed; --limit N keeps the first N pairs.

    Sampling draws pairs one after another, so a limited run's pairs are the first pairs of the full run.
    """
    rules = ItemRules.from_task(spec.dataset, spec.source_file)
    wanted = spec.dataset.get("pairs", DEFAULT_PAIRS)
    if not isinstance(wanted, int) or isinstance(wanted, bool) or wanted < 1:
        raise TaskError(f"{spec.source_file}: dataset.pairs must be a positive number of pairs, got {wanted!r}")
    if options.limit is not None:
        wanted = min(wanted, options.limit)
    if options.pairs is not None:
        pairs = read_pairs(options.pairs, dataset)
        pairs = pairs[:wanted] if options.limit is not None else pairs
        how = {"from_file": str(options.pairs)}
    else:
        pairs = sample_pairs(dataset, wanted, options.seed)
        how = {"sampled": True, "seed": options.seed, "requested": wanted}
    frame = pairs_frame(dataset, pairs)
    sha = pairs_sha256(frame)
    provenance = {"source_task": spec.source.name if spec.source else None, "n_pairs": len(pairs), "sha256": sha, **how}
    return PairItems(pairs, frame, sha, rules, provenance)


def task_recipes(dataset, items: PairItems, variants) -> list[ItemRecipe]:
    """The task's items in plan order (pairs, then variants in VARIANTS order), repeats included."""
    ordered = [v for v in VARIANTS if v in variants]
    return [recipe(dataset, p, v, items.rules) for p in items.pairs for v in ordered]


@dataclass
class RunItems:
    """The distinct items of a run's temporal tasks and their embeddings (raw, as the model returns them)."""

    rows: dict[ItemRecipe, int]  # recipe -> row, in plan order
    tasks: list[str]  # the temporal tasks whose items these are
    embedded_by: str  # the task during which they were embedded
    embeddings: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What a result file says about its items' embeddings."""
        return {
            "distinct_in_run": len(self.rows),
            "tasks": self.tasks,
            "embedded_during": self.embedded_by,
            **self.counts,
            "order": "tasks in plan order, pairs in order, variants in A, B, A while B, A then B, B then A order; each distinct item once",
        }


def item_variants(spec) -> list[str] | None:
    """The variants whose clip embeddings a task's evaluation uses (its ``item_variants``), None for the others."""
    from clapbench.evaluations import get_evaluation

    try:
        wants = getattr(get_evaluation(spec.eval_type), "item_variants", None)
    except TaskError:
        return None
    return list(wants(spec)) if wants is not None else None


def _plan_recipes(ctx) -> tuple[dict[ItemRecipe, int], list[str]]:
    """The distinct recipes of the run's temporal tasks (this one always among them), in plan order."""
    entries = ctx.run.tasks if ctx.run is not None else []
    if not any(spec.name == ctx.spec.name for spec, _ in entries):
        entries = [*entries, (ctx.spec, lambda: ctx.dataset)]
    rows: dict[ItemRecipe, int] = {}
    names = []
    for spec, read in entries:
        variants = item_variants(spec)
        if not variants:
            continue
        if spec.name == ctx.spec.name:
            dataset, items = ctx.dataset, pair_items(ctx.spec, ctx.options, ctx.dataset)
        else:
            try:
                dataset = read()
                items = pair_items(spec, ctx.options, dataset)
            except (DataError, TaskError):
                continue  # a kept task whose data is gone: its results are kept, it cannot share items
        names.append(spec.name)
        for r in task_recipes(dataset, items, variants):
            rows.setdefault(r, len(rows))
    return rows, names


def run_item_embeddings(ctx, needed: list[ItemRecipe], progress=None) -> RunItems:
    """The run's RunItems, embedded on first use (with ``ctx.run`` None, the task's own items)."""
    memo = ctx.run.memo if ctx.run is not None else {}
    if MEMO not in memo:
        rows, names = _plan_recipes(ctx)
        shared = RunItems(rows, names, ctx.spec.name)
        _embed(ctx, shared, progress)
        memo[MEMO] = shared  # only once embedded: with --keep-going, a later task tries again after a failure
    shared = memo[MEMO]
    missing = [r for r in needed if r not in shared.rows]
    if missing:  # a defect, not a user's error: the plan lists every temporal task's items
        raise TaskError(f"{ctx.spec.name}: {len(missing)} of its items are not among the run's temporal items (first: {missing[0]})")
    return shared


def unreadable_clips(exc) -> DataError:
    """One error naming each clip the items could not read once (many items share a clip)."""
    messages = list(dict.fromkeys(b.message for b in exc.bad))
    if len(messages) == 1:
        return DataError(messages[0])
    return DataError(f"{len(messages)} clips of the temporal items cannot be read (re-extract or replace these files):\n" + "\n".join(f"  - {m}" for m in messages))


def _embed(ctx, shared: RunItems, progress) -> None:
    from clapbench.audio.loader import BadClipsError
    from clapbench.embedding import embed_clips

    before = dict(ctx.cache.counts) if ctx.cache is not None else {}
    try:
        shared.embeddings = embed_clips(ctx.loaded, list(shared.rows), ctx.options.batch_size, ctx.options.workers, progress,
                                        description=f"{ctx.spec.name}: temporal items", cache=ctx.cache, counted_as="items")
    except BadClipsError as exc:
        raise unreadable_clips(exc) from None
    finally:
        forget_fitted()  # with --workers 0 the clips were decoded here: do not hold them for the rest of the run
    if ctx.cache is not None:
        shared.counts = {k: ctx.cache.counts[k] - before.get(k, 0) for k in ("items_computed", "items_from_cache")}
    else:
        shared.counts = {"items_computed": len(shared.rows), "items_from_cache": 0}
