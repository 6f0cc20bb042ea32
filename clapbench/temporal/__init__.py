"""Temporal probes: ZSTE (TeminAL's zero-shot temporal evaluation) and a two-way order test.

Items are built on the fly from pairs (A, B) of clips of different classes of a single-label
source task: "A then B" (concatenation), "B then A", and "A while B" (an overlay at equal levels).

- ``pairs``: the seeded pair list, saved next to the results and loadable back.
- ``items``: the waveforms of a pair's variants, and their embeddings through the model contract.
- ``prompts``: prompt wordings ("{a} before {b}", "the first sound is {}") and the ZSTE-4 caption sets.
- ``zste``: the five ZSTE probes; ``order``: the Winoground-style order test.
"""
