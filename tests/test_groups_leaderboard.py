"""Task groups, the domain-grouped leaderboard (checked against hand computation) and the F1 decision rule."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli
from sklearn.metrics import f1_score

from clapbench.errors import TaskError
from clapbench.registry import groups, parse_task_file, registry, resolve_tasks
from clapbench.results.leaderboard import build_leaderboard, to_csv_frame, to_markdown
from clapbench.files import write_json


def _esc50_raw() -> dict:
    return yaml.safe_load(Path(registry()["esc50"].source_file).read_text())


def write_task(folder: Path, name: str, domain: str, groups_: list[str] | None = None, **changes) -> Path:
    raw = _esc50_raw()
    raw.update(name=name, domain=domain, groups=groups_ or [], **changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def tasks_dir(tmp_path) -> Path:
    folder = tmp_path / "tasks"
    write_task(folder, "alpha-one", "domain-a", ["msclap-2023"])
    write_task(folder, "alpha-two", "domain-a")
    write_task(folder, "beta-one", "domain-b", ["msclap-2023", "my-set"])
    return folder


# ---- groups -------------------------------------------------------------------------------------


def test_groups_expand(tasks_dir):
    reg = registry([str(tasks_dir)])
    named = groups(reg)
    assert named["all"] == sorted(reg)
    assert named["domain-a"] == ["alpha-one", "alpha-two"] and named["domain-b"] == ["beta-one"]
    assert named["my-set"] == ["beta-one"]
    # The MS-CLAP 2023 group: the task files that opt in (ESC-50 among the built-ins), nothing else.
    assert {"esc50", "alpha-one", "beta-one"} <= set(named["msclap-2023"])
    assert "alpha-two" not in named["msclap-2023"]
    assert all("msclap-2023" in reg[t].groups for t in named["msclap-2023"])
    # Order kept, groups expanded in place, repeats dropped.
    chosen = [s.name for s in resolve_tasks("beta-one, domain-a ,alpha-one,my-set", reg)]
    assert chosen == ["beta-one", "alpha-one", "alpha-two"]
    with pytest.raises(TaskError, match="unknown task 'nope'.*groups: .*msclap-2023"):
        resolve_tasks("alpha-one,nope", reg)
    with pytest.raises(TaskError, match="no task given"):
        resolve_tasks(" , ", reg)


def test_tasks_command_lists_groups(tasks_dir):
    res = run_cli("tasks", "--tasks-dir", tasks_dir)
    assert res.exit_code == 0
    flat = " ".join(res.output.split())
    assert "domain-a (2)" in flat and "my-set (1)" in flat and "msclap-2023 (" in flat
    line = next(line for line in res.output.splitlines() if line.startswith("beta-one "))
    assert "domain-b" in line and "accuracy" in line and "0.020" in line


# ---- leaderboard ---------------------------------------------------------------------------------

SCORES = {  # model -> {task: main score}; domains: se-* sound-events, mu-* music
    "model-a": {"se-one": 0.8, "se-two": 0.6, "mu-one": 0.5, "mu-two": 0.3},
    "model-b": {"se-one": 0.9, "se-two": 0.7, "mu-one": 0.2},  # no mu-two
    "model-c": {"se-one": 0.5, "se-two": 0.5, "mu-one": 0.5, "mu-two": 0.5},
}


def _domain(task: str) -> str:
    return "sound-events" if task.startswith("se-") else "music"


@pytest.fixture
def results_dir(tmp_path) -> Path:
    folder = tmp_path / "results"
    for model, scores in SCORES.items():
        for task, score in scores.items():
            write_json(folder / model / f"{task}.json", {"task": task, "domain": _domain(task), "model": {"id": model}, "main_metric": "accuracy", "main_score": score})
    return folder


def _hand(model: str, tasks: list[str]) -> tuple[float, bool]:
    have = [SCORES[model][t] for t in tasks if t in SCORES[model]]
    return sum(have) / len(have), len(have) == len(tasks)


def test_leaderboard_csv_groups_by_domain(results_dir, tmp_path):
    res = run_cli("leaderboard", results_dir, "-o", tmp_path / "lb.csv", "--markdown", tmp_path / "lb.md")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "lb.csv").read_text())))
    assert [c for c in rows[0] if not c.endswith(":marks")] == [
        "model", "family", "music/mu-one", "music/mu-two", "music/mean", "music/complete",
        "sound-events/se-one", "sound-events/se-two", "sound-events/mean", "sound-events/complete", "mean", "complete",
    ]
    # Complete models first by mean (a: 0.55, c: 0.50), then the incomplete one (b: 0.60 over 3 tasks).
    assert [r["model"] for r in rows] == ["model-a", "model-c", "model-b"]
    music, sound = ["mu-one", "mu-two"], ["se-one", "se-two"]
    for r in rows:
        m = r["model"]
        for domain, tasks in (("music", music), ("sound-events", sound)):
            mean, complete = _hand(m, tasks)
            assert float(r[f"{domain}/mean"]) == pytest.approx(mean, abs=1e-4)
            assert r[f"{domain}/complete"] == str(complete)
            for t in tasks:
                cell = r[f"{domain}/{t}"]
                assert cell == "missing" if t not in SCORES[m] else float(cell) == SCORES[m][t]
        mean, complete = _hand(m, music + sound)
        assert float(r["mean"]) == pytest.approx(mean, abs=1e-4) and r["complete"] == str(complete)
    b = rows[2]
    assert b["music/mu-two"] == "missing" and b["music/complete"] == "False" and b["sound-events/complete"] == "True"
    assert float(b["mean"]) == pytest.approx((0.9 + 0.7 + 0.2) / 3, abs=1e-4)

    md = (tmp_path / "lb.md").read_text().splitlines()
    assert md[0] == "| model | family | music / mu-one | music / mu-two | music / **mean** | sound-events / se-one | sound-events / se-two | sound-events / **mean** | **mean** |"
    assert md[2] == "| model-a |  | 50.00 | 30.00 | 40.00 | 80.00 | 60.00 | 70.00 | 55.00 |"
    assert md[4] == "| model-b |  | 20.00 | missing | 20.00 (incomplete) | 90.00 | 70.00 | 80.00 | 60.00 (incomplete) |"


def test_single_domain_keeps_the_plain_shape(results_dir):
    from clapbench.results.record import load_results

    table, domains = build_leaderboard(load_results(results_dir), ["se-two", "se-one"])
    assert [c for c in table.columns if not c.endswith(":marks")] == ["model", "family", "sound-events/se-one", "sound-events/se-two", "mean", "complete"]
    assert [c for c in table.columns if c.endswith(":marks")] == ["sound-events/se-one:marks", "sound-events/se-two:marks", "mean:marks"]
    assert domains == {"se-two": "sound-events", "se-one": "sound-events"}
    frame = to_csv_frame(table)
    assert list(frame["model"]) == ["model-b", "model-a", "model-c"]  # all complete: by mean 0.8, 0.7, 0.5
    assert list(frame["mean"]) == [0.8, 0.7, 0.5]
    assert to_markdown(table, domains).splitlines()[0] == "| model | family | sound-events / se-one | sound-events / se-two | **mean** |"


def test_leaderboard_tasks_option_takes_groups(results_dir, tmp_path):
    # Registered tasks named like the results, in their domains: a group name picks its members.
    folder = tmp_path / "tasks"
    for task in ("se-one", "se-two", "mu-one", "mu-two"):
        write_task(folder, task, _domain(task))
    res = run_cli("leaderboard", results_dir, "--tasks", "music", "--tasks-dir", folder, "-o", tmp_path / "lb.csv")
    assert res.exit_code == 0, res.output
    header = (tmp_path / "lb.csv").read_text().splitlines()[0]
    # the group holds the built-in music tasks too (missing for these models) and no sound-event task
    assert "music/mu-one," in header and "music/mu-two," in header and "music/gtzan-genres," in header and "se-one" not in header
    res = run_cli("leaderboard", results_dir, "--tasks", "se-one,unknown-task", "-o", tmp_path / "lb2.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "lb2.csv").read_text())))
    # A task with no result nor task file: domain 'other', missing for every model.
    assert [c for c in rows[0] if not c.endswith(":marks")] == ["model", "family", "other/unknown-task", "other/mean", "other/complete", "sound-events/se-one", "sound-events/mean", "sound-events/complete", "mean", "complete"]
    assert {(r["other/unknown-task"], r["other/mean"], r["other/complete"], r["complete"]) for r in rows} == {("missing", "missing", "False", "False")}


# ---- F1 decision rule ----------------------------------------------------------------------------


def test_threshold_f1_matches_sklearn():
    from clapbench.evaluations.metrics import multi_label_metrics, threshold_decisions, top1_decisions

    rng = np.random.default_rng(0)
    y = (rng.random((40, 5)) < 0.3).astype(np.int8)
    scores = rng.uniform(-1, 1, (40, 5))
    idx = np.vstack([np.arange(40), rng.integers(0, 40, 40)])
    for decide, pred in ((threshold_decisions(0.2), scores >= 0.2), (top1_decisions, scores == scores.max(axis=1, keepdims=True))):
        table = multi_label_metrics(decide)
        for average in ("micro", "macro"):
            values = table[f"f1_{average}"](y, scores, idx)
            for row, value in zip(idx, values):
                assert value == pytest.approx(f1_score(y[row], pred[row].astype(int), average=average, zero_division=0))


def test_task_file_rejects_bad_f1_rules(tmp_path):
    from clapbench.evaluations.zero_shot import f1_rule

    evaluation = _esc50_raw()["evaluation"]
    for bad, message in (({"f1_rule": "best"}, "f1_rule is 'best'; expected top1 or threshold"), ({"f1_rule": "threshold"}, "needs evaluation.f1_threshold")):
        spec = parse_task_file(write_task(tmp_path / "t", "bad", "x", evaluation={**evaluation, **bad}))
        with pytest.raises(TaskError, match=message):
            f1_rule(spec)
    spec = parse_task_file(write_task(tmp_path / "t", "good", "x", evaluation={**evaluation, "f1_rule": "threshold", "f1_threshold": 0.25}))
    assert f1_rule(spec)[1] == "threshold: each clip is predicted to hold every class whose cosine similarity is >= 0.25"


def test_threshold_rule_end_to_end(tiny_model, esc50_dir, tmp_path):
    """A multi-label task whose file picks the threshold rule: the result's F1 equals sklearn's on the model's cosines."""
    from clapbench.embedding import embed_clips, l2_normalize
    from clapbench.evaluations.zero_shot import class_prompts, zero_shot_classifier
    from clapbench.models import load_model

    data = tmp_path / "multi"
    shutil.copytree(esc50_dir, data)
    rows = list(csv.DictReader((esc50_dir / "meta" / "esc50.csv").open()))
    cats = sorted({r["category"] for r in rows})
    with (data / "meta" / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "labels"])
        for k, r in enumerate(rows):  # each clip: its class, and every third clip the next class too
            extra = [cats[(cats.index(r["category"]) + 1) % len(cats)]] if k % 3 == 0 else []
            w.writerow([r["filename"], ",".join([r["category"], *extra])])
    raw = _esc50_raw()
    raw.update(name="multi", groups=[], dataset={"reader": "csv", "metadata": "meta/labels.csv", "audio_dir": "audio", "path_column": "filename", "label_column": "labels", "label_separator": ","})
    raw["evaluation"] = {"type": "zero-shot-classification", "multilabel": True, "metrics": ["mAP", "f1_micro", "f1_macro"], "main_metric": "mAP", "f1_rule": "threshold"}
    (tmp_path / "tasks").mkdir()

    # The model's cosines, computed here first so the task file's threshold splits them (a random model's are all alike).
    loaded = load_model(str(tiny_model), device="cpu", seed=0)
    spec = parse_task_file(write_task(tmp_path / "draft", "multi", "x", dataset=raw["dataset"], evaluation={**raw["evaluation"], "f1_threshold": 0.0}))
    audio = l2_normalize(embed_clips(loaded, [str(data / "audio" / r["filename"]) for r in rows], workers=0))
    scores = audio @ zero_shot_classifier(loaded, class_prompts(spec, cats)).T
    threshold = round(float(np.quantile(scores, 0.7)), 6)
    raw["evaluation"]["f1_threshold"] = threshold
    (tmp_path / "tasks" / "multi.yaml").write_text(yaml.safe_dump(raw))

    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "multi", "--tasks-dir", tmp_path / "tasks", "--data", f"multi={data}", "--output", out, "--workers", "0", "--bootstrap", "50")
    assert res.exit_code == 0, res.output
    result = json.loads((out / "tiny-clap" / "multi.json").read_text())
    assert result["f1_rule"] == f"threshold: each clip is predicted to hold every class whose cosine similarity is >= {threshold}"
    assert result["f1_threshold"] == threshold and result["classes"] == cats
    y = np.zeros(scores.shape, dtype=int)
    for k, r in enumerate(rows):
        y[k, cats.index(r["category"])] = 1
        if k % 3 == 0:
            y[k, (cats.index(r["category"]) + 1) % len(cats)] = 1
    pred = (scores >= threshold).astype(int)
    assert 0 < pred.sum() < pred.size  # the threshold decides something
    assert result["metrics"]["f1_micro"] == pytest.approx(f1_score(y, pred, average="micro", zero_division=0), abs=1e-6)
    assert result["metrics"]["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0), abs=1e-6)
