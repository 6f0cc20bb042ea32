"""Prompt wordings of the temporal probes, and the sampled caption sets of ZSTE-4.

Task files name the wordings under ``prompts:``; ``--prompt KEY=TEXT`` overrides them:
``before`` and ``while`` hold ``{a}`` and ``{b}`` (the two class names), ``first`` and ``second``
hold ``{}`` (one class name).
"""

from __future__ import annotations

import string

import numpy as np

from clapbench.errors import TaskError
from clapbench.registry import TaskSpec

FIELDS = {"before": {"a", "b"}, "while": {"a", "b"}, "first": {""}, "second": {""}}


def check_prompts(spec: TaskSpec, keys: tuple[str, ...]) -> dict[str, str]:
    """The task's wordings for ``keys``, each checked to hold exactly its placeholders."""
    out = {}
    for key in keys:
        if key == "templates":
            if not spec.templates:
                raise TaskError(f"{spec.source_file}: task {spec.name} needs prompts.templates (strings holding '{{}}')")
            continue
        text = spec.prompts.get(key)
        if not isinstance(text, str):
            raise TaskError(f"{spec.source_file}: task {spec.name} needs prompts.{key} (a string)")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            raise TaskError(f"task {spec.name}: prompt {key}='{text}' is not a valid format string ({exc})") from None
        if fields != FIELDS[key]:
            want = " and ".join("{" + f + "}" for f in sorted(FIELDS[key]))
            raise TaskError(f"task {spec.name}: prompt {key}='{text}' must hold {want} and no other braces (from {spec.source_file} or --prompt)")
        out[key] = text
    return out


def relation(wording: str, a: str, b: str) -> str:
    return wording.format(a=a, b=b)


def zs4_captions(a: int, b: int, n_classes: int, rng: np.random.Generator, n_captions: int, n_others: int) -> list[tuple[str, int, int]]:
    """ZSTE-4's caption set for a pair of classes (a, b), as (relation, x, y) with relation 'before'/'while'.

    Classes: a, b and ``n_others`` others drawn at random; captions: every "x before y" and "x while y"
    over ordered pairs of distinct classes among them. "a before b", "b before a" and "a while b" are
    always in the set (so the reversed order is always a distractor); the rest of the ``n_captions``
    are drawn without replacement. The set is shuffled so that no position is special.
    """
    others = [c for c in range(n_classes) if c not in (a, b)]
    chosen = [a, b] + [int(c) for c in rng.choice(others, size=min(n_others, len(others)), replace=False)]
    forced = [("before", a, b), ("before", b, a), ("while", a, b)]
    pool = [(r, x, y) for x in chosen for y in chosen if x != y for r in ("before", "while")]
    rest = [c for c in pool if c not in forced]
    k = max(0, min(n_captions, len(pool)) - len(forced))
    picked = [rest[int(i)] for i in rng.choice(len(rest), size=k, replace=False)] if k else []
    captions = forced + picked
    return [captions[int(i)] for i in rng.permutation(len(captions))]
