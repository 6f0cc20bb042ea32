"""Worker-process decoding gives the same embeddings, bit for bit, as decoding in-process."""

from __future__ import annotations

import numpy as np

from clapbench.embedding import embed_clips
from clapbench.models import load_model


def test_workers_match_in_process_and_reuse_the_warm_server(tiny_model, esc50_dir):
    loaded = load_model(str(tiny_model), device="cpu")
    paths = sorted(str(p) for p in (esc50_dir / "audio").iterdir())
    assert len(paths) > 8  # more than one batch, so the process pool (not the in-process path) runs
    local = embed_clips(loaded, paths, batch_size=8, workers=0)
    pooled = embed_clips(loaded, paths, batch_size=8, workers=2)
    # A second pool, as the next task of a run gets, forks from the same (already warm) server.
    again = embed_clips(loaded, paths, batch_size=8, workers=1)
    assert local.shape == (len(paths), 32)
    np.testing.assert_array_equal(pooled, local)
    np.testing.assert_array_equal(again, local)
