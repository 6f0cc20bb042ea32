"""The sound-event, vocal, surveillance, action and scene tasks, run end to end on small copies of
their official layouts (tests/layouts_sound.py) with the tiny model.

Each run is checked against an independent computation: the clips are decoded and embedded again
here with transformers' ClapProcessor/ClapModel directly, prompts are built from the task file,
and the metrics are recomputed with scikit-learn from those scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr
import torch
from clapbench.task_schema import resolve
from conftest import assert_accuracy_within, assert_decisions_agree, run_cli
from layouts_sound import BUILDERS, Layout
from sklearn.metrics import average_precision_score, balanced_accuracy_score, f1_score

TASKS_DIR = Path(__file__).resolve().parents[1] / "tasks"
MULTI_LABEL = {"fsd50k", "dcase17-task4", "audioset", "esc50-actions"}


@pytest.fixture(scope="module")
def reference(tiny_model):
    from transformers import ClapModel, ClapProcessor

    return ClapProcessor.from_pretrained(tiny_model), ClapModel.from_pretrained(tiny_model).eval()


def task_file(task: str) -> dict:
    return resolve(TASKS_DIR / f"{task}.yaml")[0]  # with its included bases (tasks/_*.yaml)


def prompt_name(task: dict, name: str) -> str:
    classes = task.get("classes") or {}
    overrides = classes.get("prompt_names") or {}
    if name in overrides:
        return overrides[name]
    return name.replace("_", " ") if classes.get("display") == "underscores_to_spaces" else name


def reference_scores(reference, root: Path, paths: list[str], task: dict, classes: list[str]) -> np.ndarray:
    """Cosine similarity of every clip to every class's template-ensemble embedding."""
    processor, model = reference
    rate = processor.feature_extractor.sampling_rate
    waves = []
    for rel in paths:
        data, sr = sf.read(root / rel, dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        waves.append(soxr.resample(mono, sr, rate) if sr != rate else mono)
    templates = task["prompts"]["templates"]
    texts = [t.format(prompt_name(task, c)) for c in classes for t in templates]
    with torch.no_grad():
        feats = processor.feature_extractor(waves, sampling_rate=rate, return_tensors="pt")
        audio = model.get_audio_features(input_features=feats["input_features"], is_longer=feats["is_longer"]).pooler_output
        tokens = processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        text = model.get_text_features(**tokens).pooler_output
    audio = torch.nn.functional.normalize(audio, dim=-1)
    text = torch.nn.functional.normalize(text, dim=-1).reshape(len(classes), len(templates), -1).mean(dim=1)
    return (audio @ torch.nn.functional.normalize(text, dim=-1).T).numpy()


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("task", list(BUILDERS))
def test_task_end_to_end(task, tiny_model, reference, tmp_path):
    layout = BUILDERS[task](tmp_path / "data")
    out = tmp_path / "results"
    res = run_cli("run", "--model", tiny_model, "--tasks", task, "--data", f"{task}={layout.data}", "--output", out,
                  "--save-predictions", "--workers", "0", "--bootstrap", "200")
    assert res.exit_code == 0, res.output
    result = json.loads((out / "tiny-clap" / f"{task}.json").read_text())
    preds = pd.read_csv(out / "tiny-clap" / f"{task}.predictions.csv", keep_default_na=False)
    spec = task_file(task)

    # What was read: clips, their labels, the class list, and how prompts name the classes.
    assert result["n_items"] == len(layout.labels) == len(preds)
    assert result["classes"] == layout.classes and result["n_classes"] == len(layout.classes)
    assert Path(result["data_root"]) == layout.root
    read = {row.path: set(row.label.split("|")) if row.label else set() for row in preds.itertuples()}
    assert read == {path: set(labels) for path, labels in layout.labels.items()}
    assert result["protocol"]["templates"] == spec["prompts"]["templates"]
    assert result["protocol"]["class_prompt_names"] == [prompt_name(spec, c) for c in layout.classes]
    assert result["main_metric"] == spec["evaluation"]["main_metric"]

    # The same scores from an independent embedding of the clips.
    paths = list(preds["path"])
    scores = reference_scores(reference, layout.root, paths, spec, layout.classes)
    items = np.load(next(out.glob(f"*/{task}.items.npz")))
    assert list(items["ids"]) == paths
    np.testing.assert_allclose(items["scores"], scores, atol=2e-5)
    np.testing.assert_allclose(preds["score"], scores.max(axis=1), atol=2e-5)
    # The run's decisions are best classes of the independent scores (up to float noise at near-ties);
    # the metrics are then recomputed by scikit-learn from the run's own decisions and scores.
    top = np.array([layout.classes.index(p) for p in preds["prediction"]])
    assert_decisions_agree(top, scores)

    metrics = result["metrics"]
    if task in MULTI_LABEL:
        y = np.array([[c in layout.labels[p] for c in layout.classes] for p in paths], dtype=int)
        with_pos = np.flatnonzero(y.sum(axis=0) > 0)
        expected_map = np.mean([average_precision_score(y[:, c], items["scores"][:, c]) for c in with_pos])
        decided = np.eye(len(layout.classes), dtype=int)[top]
        assert metrics["mAP"] == pytest.approx(expected_map, abs=1e-6)
        assert metrics["f1_micro"] == pytest.approx(f1_score(y, decided, average="micro", zero_division=0), abs=1e-6)
        assert metrics["f1_macro"] == pytest.approx(f1_score(y, decided, average="macro", zero_division=0), abs=1e-6)
        assert result["f1_rule"].startswith("top1")
        assert result["classes_without_positives"] == [layout.classes[c] for c in range(len(layout.classes)) if c not in with_pos]
        prevalence = y.sum(axis=0)[with_pos].mean() / len(y)
        assert result["chance"] == pytest.approx(spec.get("chance", prevalence))
    else:
        y = np.array([layout.classes.index(layout.labels[p][0]) for p in paths])
        assert metrics["accuracy"] == pytest.approx(np.mean(top == y), abs=1e-12)
        assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, top), abs=1e-12)
        top5 = np.argsort(-items["scores"], axis=1)[:, :5]
        assert metrics["top5_accuracy"] == pytest.approx(np.mean([y[i] in top5[i] for i in range(len(y))]), abs=1e-12)
        assert_accuracy_within(metrics["top5_accuracy"], scores, y, k=5)
        assert result["chance"] == pytest.approx(spec["chance"])
    lo, hi = result["ci95"][result["main_metric"]]
    assert lo <= result["main_score"] <= hi

    # Copies rebuilt from YouTube: the missing clips are reported, not fatal.
    if layout.extra.get("n_missing"):
        info = result["dataset_info"]
        assert (info["n_listed"], info["n_missing"], info["n_found"]) == (layout.extra["n_listed"], layout.extra["n_missing"], len(layout.labels))
        assert info["n_missing_found_as_video"] == layout.extra["n_video"]
        assert "listed clips have no audio file here" in res.output


def test_fsd50k_prompt_names_are_vocabulary_classes():
    """Every prompt override names a real class, and no '_and_' name is left to read badly."""
    from layouts_sound import FSD50K_CLASSES

    overrides = task_file("fsd50k")["classes"]["prompt_names"]
    assert set(overrides) <= set(FSD50K_CLASSES)
    assert {c for c in FSD50K_CLASSES if "_and_" in c} == set(overrides)
    assert task_file("fsd50k")["classes"]["count"] == len(FSD50K_CLASSES) == 200


def read_copy(task: str, data: Path) -> dict[str, set[str]]:
    from clapbench.data import read_dataset
    from clapbench.registry import registry

    spec = registry()[task]
    dataset = read_dataset(data, spec.dataset, spec.classes.get("names"))
    return {item.path: {dataset.classes[c] for c in item.labels} for item in dataset.items}


def test_youtube_copies_are_found_under_other_download_names(tmp_path):
    """The same clips named as other download scripts name them are read with the same labels."""
    dcase = BUILDERS["dcase17-task4"](tmp_path / "dcase")
    folder = dcase.data / "evaluation_set_formatted_audio_segments"
    for f in list(folder.iterdir()):  # a copy downloaded without the 'Y' prefix, in audio/
        (dcase.data / "audio").mkdir(exist_ok=True)
        f.rename(dcase.data / "audio" / f.name[1:])
    assert read_copy("dcase17-task4", dcase.data) == {"audio/" + Path(p).name[1:]: set(v) for p, v in dcase.labels.items()}

    audioset = BUILDERS["audioset"](tmp_path / "audioset")
    moved = {}
    for rel, labels in audioset.labels.items():  # HF agkphysics style: <ytid>.flac, csv files at the top
        src = audioset.data / rel
        dst = audioset.data / "eval" / (src.stem[1:] + src.suffix)
        dst.parent.mkdir(exist_ok=True)
        src.rename(dst)
        moved[f"eval/{dst.name}"] = set(labels)
    for name in ("eval_segments.csv", "class_labels_indices.csv"):
        (audioset.data / "metadata" / name).rename(audioset.data / name)
    assert read_copy("audioset", audioset.data) == moved


def test_tut2017_reads_meta_txt_when_evaluate_txt_is_absent(tmp_path):
    tut = BUILDERS["tut2017"](tmp_path)
    setup = tut.root / "evaluation_setup"
    rows = [line.split("\t") + ["b%03d" % k] for k, line in enumerate((setup / "evaluate.txt").read_text().splitlines())]
    (tut.root / "meta.txt").write_text("".join("\t".join(r) + "\n" for r in rows))  # file, scene, location id
    (setup / "evaluate.txt").unlink()
    assert read_copy("tut2017", tut.root) == {p: set(v) for p, v in tut.labels.items()}


def _replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


# task -> (damage done to a good copy, the file the message must name, words the message must hold)
MALFORMED = {
    "fsd50k": (lambda r: _replace_in(r / "FSD50K.ground_truth/eval.csv", "Music\"", "Musik\""), "FSD50K.ground_truth/eval.csv", "unknown label 'Musik'"),
    "us8k": (lambda r: _replace_in(r / "UrbanSound8K/metadata/UrbanSound8K.csv", "classID", "class_id"), "metadata/UrbanSound8K.csv", "missing column(s) classID"),
    "dcase17-task4": (lambda r: _replace_in(r / "groundtruth_release/groundtruth_weak_label_evaluation_set.csv", "Car alarm", "Car alarms"),
                      "groundtruth_weak_label_evaluation_set.csv", "unknown label 'Car alarms'"),
    "audioset": (lambda r: _replace_in(r / "metadata/eval_segments.csv", "/m/04rlf", "/m/zzzz"), "metadata/eval_segments.csv", "unknown label '/m/zzzz'"),
    "vggsound": (lambda r: (r / "vggsound.csv").write_text("---g-f_I2yQ,1,people marching\n"), "vggsound.csv", "expected at least 4"),
    "vocalsound": (lambda r: (r / "vs_release_16k/audio_16k/f0003_0_sigh.wav").unlink(), "audio_16k/f0003_0_sigh.wav", "not found"),
    "sesa": (lambda r: (r / "test/casual_000.wav").rename(r / "test/alarm_000.wav"), "test/alarm_000.wav", "label 'alarm'"),
    "esc50-actions": (lambda r: _replace_in(r / "action_vectors_dataset/actionvector_one_per_audiofile_sum.csv", "10.0", "ten"),
                      "actionvector_one_per_audiofile_sum.csv", "expected a number"),
    "tut2017": (lambda r: (r / "TUT-acoustic-scenes-2017-evaluation/audio/3.wav").unlink(), "audio/3.wav", "not found"),
}


@pytest.mark.parametrize("task", list(MALFORMED))
def test_malformed_copy_is_refused_with_the_file_named(task, tiny_model, tmp_path):
    damage, names_file, words = MALFORMED[task]
    layout = BUILDERS[task](tmp_path / "data")
    damage(layout.data)
    out = tmp_path / "results"
    res = run_cli("run", "--model", tiny_model, "--tasks", task, "--data", f"{task}={layout.data}", "--output", out, "--workers", "0")
    assert res.exit_code == 2, res.output
    assert names_file in res.output and words in res.output, res.output
    assert "Traceback" not in res.output
    assert not (out / "tiny-clap" / f"{task}.json").exists()
