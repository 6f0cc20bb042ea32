"""The torch front end (clapbench.models.clap_frontend) against transformers' ClapFeatureExtractor.

Both compute the same float64 arithmetic and round the dB values to float32 at the end; only the FFT's and the
mel projection's summation order differ (float64 rounding, ~1e-13 relative), so the features agree to a float32
ulp of their magnitude (~1e-5 dB at 100 dB). The bound asked of the front end, 1e-4 dB, is checked here on both
clip policies (rand_trunc with the Slaney filter bank, fusion with the HTK one and its chunks), every padding
rule, and clips shorter than, exactly as long as, just longer than (fusion's one-hop corner) and longer than
the window.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from clapbench.embedding import embed_clips
from clapbench.models import load_model
from clapbench.models.clap_frontend import TorchLogMel, WavePreparer
from clapbench.models.hf_clap import HFClapPreprocessor
from conftest import run_cli
from test_parity import RATE, make_clips, write_clips

DB_TOL = 1e-4  # the bound; the computation gives ~1e-5 (a float32 ulp at 100 dB)
EMB_TOL = 1e-5


def _clips(max_seconds: float) -> list[np.ndarray]:
    n = int(max_seconds * RATE)
    waves = make_clips((0.7, 3.0, max_seconds, max_seconds + 100 / RATE, max_seconds + 0.05, 1.35 * max_seconds, 2.3 * max_seconds), seed=5)
    waves[0] = waves[0] * np.float32(1e-3)  # a quiet clip: bins near the -100 dB floor
    assert len(waves[2]) == n
    return waves


@pytest.mark.parametrize("truncation", ["rand_trunc", "fusion"])
@pytest.mark.parametrize("padding", ["repeatpad", "repeat", "pad"])
def test_features_equal_the_extractor(truncation, padding):
    from transformers import ClapFeatureExtractor

    fe = ClapFeatureExtractor(truncation=truncation, padding=padding, frequency_min=50, frequency_max=14000, max_length_s=4)
    reference, prepare, log_mel = HFClapPreprocessor(fe, seed=7), WavePreparer(fe, seed=7), TorchLogMel(fe)
    waves = _clips(4.0)
    expected = [reference(w) for w in waves]  # the extractor, with the same seeded crops
    prepared = [prepare(w) for w in waves]
    batched = log_mel.features(prepared).numpy()
    for k, ((mel, longer), clip) in enumerate(zip(expected, prepared)):
        assert clip.longer == longer, k
        assert batched[k].shape == mel.shape, k
        assert np.abs(batched[k] - mel).max() <= DB_TOL, (k, np.abs(batched[k] - mel).max())
        alone = log_mel.features([clip]).numpy()[0]  # a clip's features do not depend on its batch
        assert np.abs(alone - batched[k]).max() <= DB_TOL, k
    # the cases are what they say: long clips cropped (rand_trunc) or chunked (fusion), the corner whole
    assert [c.longer for c in prepared] == [False, False, False, truncation == "rand_trunc", True, True, True]
    if truncation == "fusion":
        assert prepared[3].whole and prepared[5].chunks is not None
        assert not np.array_equal(batched[5][1], batched[5][3])  # front and back chunks are other parts of the clip
    # and the features are not trivially equal: the clips differ
    assert np.abs(expected[1][0] - expected[2][0]).max() > 1.0


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_fused_model"])
def test_embeddings_equal_the_extractor_path(fixture, request, tmp_path):
    folder = request.getfixturevalue(fixture)
    torch_fe = load_model(str(folder), device="cpu", front_end="torch")
    extractor = load_model(str(folder), device="cpu", front_end="transformers")
    assert torch_fe.preprocessing["front_end"].startswith("torch") and extractor.preprocessing["front_end"].startswith("transformers")
    waves = make_clips((0.7, 3.0, 10.0, 13.5, 23.0), seed=6)
    expected = extractor.model.embed_audio(waves)
    np.testing.assert_allclose(torch_fe.model.embed_audio(waves), expected, atol=EMB_TOL)
    # the production path: waves fitted in a worker process, the batch's log-mel here
    paths = write_clips(tmp_path, waves)
    np.testing.assert_allclose(embed_clips(torch_fe, paths, batch_size=3, workers=1), expected, atol=EMB_TOL)
    assert np.abs(expected[0] - expected[1]).max() > 1e-2


def test_front_end_is_recorded_and_part_of_the_run(tiny_model, esc50_dir, tmp_path):
    scores = {}
    for front_end in ("torch", "transformers"):
        out = tmp_path / front_end
        res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", out,
                      "--front-end", front_end, "--bootstrap", 0, "--workers", 0)
        assert res.exit_code == 0, res.output
        record = json.loads((out / "tiny-clap" / "esc50.json").read_text())
        assert record["protocol"]["front_end"].startswith(front_end)
        assert record["fingerprint"]["fields"]["front_end"] == front_end
        scores[front_end] = record["metrics"]["accuracy"]
    assert scores["torch"] == scores["transformers"]  # same features to 1e-5 dB: the same decisions on this fixture


def test_unknown_front_end_is_refused(tiny_model):
    from clapbench.errors import ModelError

    with pytest.raises(ModelError, match="--front-end numpy"):
        load_model(str(tiny_model), device="cpu", front_end="numpy")
