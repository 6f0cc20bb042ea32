"""Sharded evaluation under torchrun: two gloo CPU processes give the scores of one, bit for bit, on a
classification and a retrieval task; they share the cache safely; a clip one rank cannot read ends the run on
every rank with one message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_retrieval_tasks import _precise, make_clotho_layout

CLIPS = [(f"tone {f} Hz.wav", f, _precise(f)) for f in (250, 300, 400, 500, 650, 800, 1000, 1300, 1600, 2000, 2600, 3200, 4000)]
ARGS = ["--tasks", "esc50,clotho", "--workers", "0", "--batch-size", "4", "--bootstrap", "200", "--save-predictions"]


def _clapbench(model, esc50, clotho, out, *extra, procs: int = 1, timeout: int = 240):
    head = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), "-m", "clapbench"] if procs > 1 \
        else [sys.executable, "-m", "clapbench"]
    cmd = [*head, "run", "--model", str(model), "--data", f"esc50={esc50}", "--data", f"clotho={clotho}", "--output", str(out), *ARGS, *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "300"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".npz", ".csv")}


def _scores(folder: Path, task: str) -> dict:
    import json

    data = json.loads((folder / f"{task}.json").read_text())
    return {k: data[k] for k in ("main_score", "metrics", "ci95", "n_items", "fingerprint")}


@pytest.fixture(scope="module")
def clotho13(tmp_path_factory) -> Path:
    return make_clotho_layout(tmp_path_factory.mktemp("clotho13") / "clotho", clips=CLIPS)


def test_two_ranks_give_the_scores_of_one_process(tiny_model, esc50_dir, clotho13, tmp_path):
    one = _clapbench(tiny_model, esc50_dir, clotho13, tmp_path / "one", "--no-cache")
    assert one.returncode == 0, one.stdout + one.stderr
    cache = tmp_path / "cache"
    two = _clapbench(tiny_model, esc50_dir, clotho13, tmp_path / "two", "--cache-dir", cache, procs=2)
    assert two.returncode == 0, two.stdout + two.stderr
    assert two.stdout.count("results in") == 1  # rank 0 alone speaks
    a, b = tmp_path / "one/tiny-clap", tmp_path / "two/tiny-clap"
    for task in ("esc50", "clotho"):
        assert _scores(a, task) == _scores(b, task), task
    assert _files(a) == _files(b)  # per-item arrays and predictions, byte for byte

    # Both ranks cached their own batches: a second sharded run computes nothing and scores the same.
    again = _clapbench(tiny_model, esc50_dir, clotho13, tmp_path / "again", "--cache-dir", cache, procs=2)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "audio embeddings 0 from the cache" not in again.stdout and " 0 computed; prompts" in again.stdout, again.stdout
    assert _files(tmp_path / "again/tiny-clap") == _files(a)


def test_a_clip_one_rank_cannot_read_ends_every_rank_with_one_message(tiny_model, esc50_dir, clotho13, tmp_path):
    esc50 = Path(shutil.copytree(esc50_dir, tmp_path / "ESC-50-master"))
    names = sorted(p.name for p in (esc50 / "audio").iterdir())
    # The esc50 reader orders clips as its metadata lists them; break the first clip of the second batch (rank 1's).
    import csv

    with open(esc50 / "meta" / "esc50.csv") as fh:
        listed = [row["filename"] for row in csv.DictReader(fh)]
    broken = esc50 / "audio" / listed[4]
    assert broken.name in names
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    run = _clapbench(tiny_model, esc50, clotho13, tmp_path / "out", "--no-cache", procs=2)
    assert run.returncode != 0
    text = run.stdout + run.stderr
    assert text.count(f"{broken}: cannot decode audio") == 1, text[-3000:]
    # torchrun adds its own failure summary (ChildFailedError, the launcher's stack); clapbench's processes add none.
    assert 'clapbench/' not in "".join(line for line in text.splitlines() if line.strip().startswith('File "'))
    assert "error: " in run.stdout + run.stderr and run.returncode == 1  # torchrun's exit code for a failed rank
    assert not (tmp_path / "out/tiny-clap/esc50.json").exists()
