"""The temporal probes' items as the run embeds them: built in the loader's workers from picklable recipes (the
same bits as built in-process), each distinct item embedded once for all the run's probes, cached on disk, and
the same numbers whatever --workers, a rerun from the cache or an interrupted and resumed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from test_exact_resume import DRIVER
from test_temporal import RATE, write_tone_source

from clapbench.audio.loader import iter_prepared
from clapbench.registry import registry
from clapbench.runner import RunOptions, load_task_data
from clapbench.temporal.items import VARIANTS, ItemRules, build_variant, pair_waves, recipe
from clapbench.temporal.pairs import sample_pairs

ROOT = Path(__file__).resolve().parents[1]
PROBES = ["zste-1", "zste-2", "zste-3", "zste-4", "zste-5", "order-pairs"]
USES = {"zste-1": 2, "zste-2": 1, "zste-3": 2, "zste-4": 2, "zste-5": 2, "order-pairs": 2}  # items per pair


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    # 3 clips per class: pairs share clips, so single-clip items repeat across pairs
    return write_tone_source(tmp_path_factory.mktemp("tones-items") / "ESC-50-master", clips_per_class=3)


def run(model, tones, out, *extra):
    res = run_cli("run", "--model", model, "--tasks", "zste,order-pairs", "--data", f"esc50={tones}", "--output", out,
                  "--limit", "6", "--batch-size", "8", "--bootstrap", "50", "--save-predictions", *extra)
    assert res.exit_code == 0, res.output
    return res


def numbers(folder: Path) -> dict[str, object]:
    """What a result reports, per probe: metrics, intervals, and the bytes of its per-item and prediction files."""
    out = {}
    for name in PROBES:
        r = json.loads((folder / f"{name}.json").read_text())
        out[name] = (r["metrics"], r["ci95"], r["n_items"], (folder / f"{name}.predictions.csv").read_bytes(), (folder / f"{name}.items.npz").read_bytes())
    return out


def test_items_built_in_workers_equal_items_built_in_process(tones):
    dataset = load_task_data(registry()["zste-3"], RunOptions(output=None, data={"esc50": str(tones)}))
    rules = ItemRules.from_task(registry()["zste-3"].dataset, "zste-3.yaml")
    pairs = sample_pairs(dataset, 5, seed=1)
    recipes = [recipe(dataset, p, v, rules) for p in pairs for v in VARIANTS]
    built = [w for _, batch in iter_prepared(recipes, RATE, batch_size=4, workers=2) for w in batch]
    expected = [build_variant(v, *pair_waves(dataset, p, RATE, rules)) for p in pairs for v in VARIANTS]
    assert len(built) == len(expected) == 25
    for got, want in zip(built, expected):
        assert got.dtype == want.dtype == np.float32 and got.tobytes() == want.tobytes()


@pytest.fixture(scope="module")
def cold(tiny_model, tones, tmp_path_factory) -> tuple[Path, Path]:
    """(results, cache folder) of a first run, from an empty cache, in this process (--workers 0): the reference."""
    work = tmp_path_factory.mktemp("cold")
    run(tiny_model, tones, work / "out", "--cache-dir", work / "cache", "--workers", "0")
    return work / "out" / "tiny-clap", work / "cache"


def test_each_distinct_item_embedded_once_and_a_rerun_embeds_none(tiny_model, tones, cold, tmp_path):
    cold, cache = cold
    # the distinct items, counted here from the saved pair list: each clip alone, each overlay, both concatenations
    pairs = pd.read_csv(cold / "zste-1.pairs.csv")
    singles = set(pairs.path_a) | set(pairs.path_b)
    concats = set(zip(pairs.path_a, pairs.path_b)) | set(zip(pairs.path_b, pairs.path_a))
    distinct = len(singles) + len(pairs) + len(concats)
    used = sum(USES.values()) * len(pairs)
    assert len(singles) < 2 * len(pairs) and distinct < used  # the dedupe has something to do here
    records = {n: json.loads((cold / f"{n}.json").read_text()) for n in PROBES}
    first = records["zste-1"]  # the run's first temporal task embeds every probe's items
    assert first["embedding_cache"]["items_computed"] == distinct and first["embedding_cache"]["items_from_cache"] == 0
    for r in records.values():
        assert r["temporal"]["item_embeddings"]["distinct_in_run"] == distinct
        assert r["temporal"]["item_embeddings"]["tasks"] == PROBES
        assert r["embedding_cache"]["audio_computed"] == 0 and r["embedding_cache"].get("items_computed", 0) == (distinct if r is first else 0)

    run(tiny_model, tones, tmp_path / "warm", "--cache-dir", cache, "--workers", "0")
    warm = tmp_path / "warm" / "tiny-clap"
    again = json.loads((warm / "zste-1.json").read_text())
    assert again["embedding_cache"]["items_computed"] == 0 and again["embedding_cache"]["items_from_cache"] == distinct
    assert numbers(warm) == numbers(cold)


def test_workers_do_not_change_the_numbers(tiny_model, tones, cold, tmp_path):
    run(tiny_model, tones, tmp_path / "w2", "--no-cache", "--workers", "2")
    assert numbers(tmp_path / "w2" / "tiny-clap") == numbers(cold[0])


def test_interrupted_and_resumed_run_gives_the_uninterrupted_numbers(tiny_model, tones, cold, tmp_path):
    """Killed mid-embedding of the items, then after two probes' results are written (a resumed run keeps them,
    and lists their items all the same, so the others' items are embedded in the same company)."""
    args = ["run", "--model", str(tiny_model), "--tasks", "zste,order-pairs", "--data", f"esc50={tones}", "--output", str(tmp_path / "resumed"),
            "--limit", "6", "--batch-size", "8", "--bootstrap", "50", "--save-predictions", "--workers", "0", "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    steps = [["embedded-batch:2", args], ["rename/zste-3.json:1", args], [None, args]]  # one process forks each run
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(steps)], env=env, capture_output=True, text=True, timeout=600)
    assert "CODES" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert json.loads(proc.stdout.split("CODES", 1)[1]) == [-9, -9, 0], proc.stdout[-2000:] + proc.stderr[-2000:]
    resumed = tmp_path / "resumed" / "tiny-clap"
    assert numbers(resumed) == numbers(cold[0])
    # the resumed run listed the kept probes' items too: the same distinct items, so the same batches
    last = json.loads((resumed / "order-pairs.json").read_text())["temporal"]["item_embeddings"]
    whole = json.loads((cold[0] / "order-pairs.json").read_text())["temporal"]["item_embeddings"]
    assert last["tasks"] == whole["tasks"] == PROBES and last["distinct_in_run"] == whole["distinct_in_run"]
    assert last["embedded_during"] == "zste-3"  # zste-1 and zste-2 were kept from the killed run


def test_two_ranks_share_the_items_and_give_the_numbers_of_one_process(tiny_model, tones, cold, tmp_path):
    out = tmp_path / "two"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "clapbench", "run", "--model", str(tiny_model),
           "--tasks", "zste,order-pairs", "--data", f"esc50={tones}", "--output", str(out), "--limit", "6", "--batch-size", "8",
           "--bootstrap", "50", "--save-predictions", "--workers", "0", "--no-cache"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert numbers(out / "tiny-clap") == numbers(cold[0])


def test_a_probe_run_with_other_probes_is_another_configuration(tiny_model, tones, tmp_path):
    """Which temporal tasks share a run decides the batches their items are embedded in (the last bits of the
    numbers), so a probe's result is never kept for a run with another set of probes: that run says why and stops."""
    base = ["run", "--model", tiny_model, "--data", f"esc50={tones}", "--output", tmp_path / "out", "--limit", "4", "--bootstrap", "20"]
    first = run_cli(*base, "--tasks", "zste-1")
    assert first.exit_code == 0, first.output
    record = json.loads((tmp_path / "out" / "tiny-clap" / "zste-1.json").read_text())
    assert record["fingerprint"]["fields"]["temporal_items_with"] == ["zste-1"]
    again = run_cli(*base, "--tasks", "zste-1,zste-2")
    assert again.exit_code != 0 and "temporal_items_with" in again.output, again.output
    assert run_cli(*base, "--tasks", "zste-1").exit_code == 0  # the same set of probes keeps it
