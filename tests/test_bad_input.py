"""Every bad input through the CLI: exit code 2, one message naming the path or value and what was
expected, no traceback, and no result file (results of tasks that finished before stay)."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from clapbench.audio.synth import make_esc50_layout
from conftest import copy_task, run_cli

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_esc50(tmp_path_factory) -> Path:
    """6 classes x 2 short clips: enough to reach every check, cheap to embed."""
    return make_esc50_layout(tmp_path_factory.mktemp("small") / "ESC-50-master", clips_per_class=2, seconds=0.5, formats=("wav", "flac"))


@pytest.fixture
def dataset(small_esc50, tmp_path) -> Path:
    """A private copy to break."""
    return Path(shutil.copytree(small_esc50, tmp_path / "ESC-50-master"))


def run(model, data, out, *extra):
    return run_cli("run", "--model", model, "--tasks", "esc50", "--data", f"esc50={data}", "--output", out, "--workers", "0",
                   "--save-predictions", "--bootstrap", 50, *extra)


def assert_user_error(result, out: Path, *needles: str):
    text = " ".join(result.output.split())  # rich may break long lines
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert " ".join(str(needle).split()) in text, f"{needle!r} not in: {result.output}"
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert written == [], f"files written on error: {written}"


def first_audio(data: Path) -> Path:
    with open(data / "meta" / "esc50.csv") as fh:
        return data / "audio" / next(csv.DictReader(fh))["filename"]


def rewrite_csv(path: Path, edit) -> None:
    with open(path) as fh:
        rows = list(csv.reader(fh))
    rows = edit(rows)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


# ---- data ---------------------------------------------------------------------------------------


def test_missing_dataset_folder(tiny_model, tmp_path):
    # brackets in the path: the message must show it literally, not as console markup
    missing = tmp_path / "data [v2]" / "ESC-50-master"
    res = run(tiny_model, missing, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(missing), "dataset folder", "not found")


def test_data_root_without_the_task_folder(tiny_model, tmp_path):
    root = tmp_path / "datasets"
    (root / "ESC-50-master").mkdir(parents=True)  # extracted, but not renamed to the task's name
    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data-root", root, "--output", out)
    assert_user_error(res, out, str(root / "esc50"), "dataset folder for task esc50 not found", f"--data-root {root}")


def test_no_data_location(tiny_model, tmp_path):
    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--output", out)
    assert_user_error(res, out, "task esc50: no data location", "--data esc50=PATH", "--data-root DIR")


def test_missing_metadata_file(tiny_model, dataset, tmp_path):
    (dataset / "meta" / "esc50.csv").unlink()
    res = run(tiny_model, dataset, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(dataset / "meta" / "esc50.csv"), "not found", "expected", "meta/esc50.csv")


def test_csv_missing_a_column(tiny_model, dataset, tmp_path):
    meta = dataset / "meta" / "esc50.csv"
    rewrite_csv(meta, lambda rows: [[c for i, c in enumerate(r) if i != rows[0].index("fold")] for r in rows])
    res = run(tiny_model, dataset, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(meta), "missing column", "fold")


def test_label_that_contradicts_the_class_index(tiny_model, dataset, tmp_path):
    """ESC-50 takes its classes from the metadata; a misspelt category keeps its target index and
    must not become a silent 7th class."""
    meta = dataset / "meta" / "esc50.csv"

    def misspell(rows):
        col = rows[0].index("category")
        assert rows[5][col] == rows[6][col] == "white_noise"
        rows[6][col] = "whit_noise"
        return rows

    rewrite_csv(meta, misspell)
    res = run(tiny_model, dataset, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(meta), "line 7", "'whit_noise'", "line 6 labels it 'white_noise'", "expected one category per target")


def test_class_with_two_indices(tiny_model, dataset, tmp_path):
    meta = dataset / "meta" / "esc50.csv"

    def renumber(rows):
        col = rows[0].index("target")
        rows[2][col] = "9"
        return rows

    rewrite_csv(meta, renumber)
    res = run(tiny_model, dataset, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(meta), "line 3", "'low_tone' has target 9", "expected one target per class")


def test_unknown_label_for_a_task_with_fixed_classes(tiny_model, dataset, tmp_path):
    """A task file that lists its classes rejects a label outside the list."""
    from clapbench.audio.synth import DEMO_CLASSES

    tasks_dir = tmp_path / "tasks"
    copy_task(tasks_dir, "esc50", "esc50fixed", ("  display: underscores_to_spaces", "  display: underscores_to_spaces\n  names: " + json.dumps(DEMO_CLASSES)))
    meta = dataset / "meta" / "esc50.csv"

    def relabel(rows):
        rows[2][rows[0].index("category")] = "dog"
        return rows

    rewrite_csv(meta, relabel)
    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50fixed", "--tasks-dir", tasks_dir, "--data", f"esc50fixed={dataset}",
                  "--output", out, "--workers", "0")
    assert_user_error(res, out, str(meta), "line 3", "unknown label 'dog'", "expected one of")


def test_missing_audio_file(tiny_model, dataset, tmp_path):
    audio = first_audio(dataset)
    audio.unlink()
    res = run(tiny_model, dataset, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(audio), "not found")


def _break_audio(path: Path, how: str) -> None:
    if how == "zero_bytes":
        path.write_bytes(b"")
    elif how == "header_without_frames":
        with sf.SoundFile(path, "w", 44100, 1, format=sf.info(path).format):
            pass
    elif how == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(8000))


@pytest.mark.parametrize("how,expected", [
    ("zero_bytes", "empty file (0 bytes)"),
    ("header_without_frames", "no samples"),
    ("random_bytes", "cannot decode audio"),
])
def test_empty_or_corrupt_audio_file(tiny_model, dataset, tmp_path, how, expected):
    audio = first_audio(dataset)
    _break_audio(audio, how)
    res = run(tiny_model, dataset, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(audio), expected)


def test_corrupt_audio_file_found_in_a_worker_process(tiny_model, dataset, tmp_path):
    """The same message when decoding runs in worker processes (the default)."""
    victim = sorted((dataset / "audio").iterdir())[3]  # a clip in the second batch
    victim.write_bytes(np.random.default_rng(1).bytes(5000))
    res = run(tiny_model, dataset, tmp_path / "out", "--workers", "1", "--batch-size", "2")
    assert_user_error(res, tmp_path / "out", str(victim), "cannot decode audio", "expected")


# ---- tasks and options --------------------------------------------------------------------------


def test_unknown_task(tiny_model, small_esc50, tmp_path):
    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc5O", "--data", f"esc50={small_esc50}", "--output", out)
    assert_user_error(res, out, "unknown task 'esc5O'", "known tasks", "esc50")


@pytest.mark.parametrize("value", ["esc50", "esc50=", "=some/folder"])
def test_bad_data_syntax(tiny_model, small_esc50, tmp_path, value):
    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", value, "--output", out)
    assert_user_error(res, out, "--data", f"'{value}'", "expected NAME=PATH")


@pytest.mark.parametrize("template", ["This is a sound.", "{} or {}", "the sound of {name}", "a {} sound {"])
def test_bad_template(tiny_model, small_esc50, tmp_path, template):
    res = run(tiny_model, small_esc50, tmp_path / "out", "--template", template)
    assert_user_error(res, tmp_path / "out", "--template", f"'{template}'", "expected exactly one '{}'")


def test_task_file_with_a_bad_template(tiny_model, small_esc50, tmp_path):
    tasks_dir = tmp_path / "tasks"
    copy_task(tasks_dir, "esc50", "esc50c", ('"a recording of {}."', '"a recording of {} in {place}."'))
    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50c", "--tasks-dir", tasks_dir, "--data", f"esc50c={small_esc50}", "--output", out)
    assert_user_error(res, out, str(tasks_dir / "esc50c.yaml"), "prompts.templates", "exactly one '{}'")


@pytest.mark.parametrize("device,expected", [
    ("gpu", "expected auto, cpu, cuda or cuda:N"),
    pytest.param("cuda", "CUDA is not available", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_bad_device(tiny_model, small_esc50, tmp_path, device, expected):
    res = run(tiny_model, small_esc50, tmp_path / "out", "--device", device)
    assert_user_error(res, tmp_path / "out", f"--device {device}", expected)


# ---- models -------------------------------------------------------------------------------------


def test_model_path_that_does_not_exist(small_esc50, tmp_path):
    missing = tmp_path / "no-such-checkpoint"
    res = run(missing, small_esc50, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(missing), "expected a HF ClapModel folder", "package.module:factory")


def test_model_folder_without_config(tiny_model, small_esc50, tmp_path):
    folder = tmp_path / "not-a-checkpoint"
    shutil.copytree(tiny_model, folder)
    (folder / "config.json").unlink()
    res = run(folder, small_esc50, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(folder), "not a CLAP checkpoint folder", "expected config.json")


def test_model_folder_without_weights(tiny_model, small_esc50, tmp_path):
    folder = Path(shutil.copytree(tiny_model, tmp_path / "no-weights"))
    (folder / "model.safetensors").unlink()
    res = run(folder, small_esc50, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(folder), "cannot load ClapModel weights", "model.safetensors")


def test_model_given_as_a_weights_file(tiny_model, small_esc50, tmp_path):
    weights = tiny_model / "model.safetensors"
    res = run(weights, small_esc50, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", str(weights), "not a checkpoint clapbench reads", "expected a HF ClapModel folder")


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [m for m in sys.modules if m.startswith("badplugin_")]:
        del sys.modules[name]


def test_plugin_module_that_is_not_there(small_esc50, tmp_path, plugin_dir):
    res = run("badplugin_nowhere:make", small_esc50, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", "badplugin_nowhere:make", "cannot import module 'badplugin_nowhere'")


def test_plugin_module_that_fails_to_import(small_esc50, tmp_path, plugin_dir):
    (plugin_dir / "badplugin_broken.py").write_text("import numpy as np\nraise ImportError('needs the frobnicate package')\n")
    res = run("badplugin_broken:make", small_esc50, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", "badplugin_broken:make", "cannot import module 'badplugin_broken'", "frobnicate")


def test_plugin_without_embed_text(small_esc50, tmp_path, plugin_dir):
    (plugin_dir / "badplugin_half.py").write_text(
        "import numpy as np\n"
        "class AudioOnly:\n"
        "    sample_rate = 16000\n"
        "    def embed_audio(self, waves):\n"
        "        return np.ones((len(waves), 4), dtype=np.float32)\n"
        "def make():\n"
        "    return AudioOnly()\n"
    )
    res = run("badplugin_half:make", small_esc50, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", "badplugin_half:make", "lacks embed_text", "expected sample_rate")


# ---- a failure after a finished task ------------------------------------------------------------


def test_results_of_finished_tasks_stay_when_a_later_task_fails(tiny_model, small_esc50, dataset, tmp_path):
    tasks_dir = tmp_path / "tasks"
    copy_task(tasks_dir, "esc50", "esc50b")
    broken = first_audio(dataset)
    _break_audio(broken, "random_bytes")
    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50,esc50b", "--tasks-dir", tasks_dir, "--data", f"esc50={small_esc50}",
                  "--data", f"esc50b={dataset}", "--output", out, "--workers", "0", "--save-predictions", "--bootstrap", 50)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and str(broken) in " ".join(res.output.split())
    files = sorted(p.name for p in (out / "tiny-clap").iterdir())
    assert files == ["esc50.items.npz", "esc50.json", "esc50.predictions.csv"]  # nothing of esc50b, no temp files
    result = json.loads((out / "tiny-clap" / "esc50.json").read_text())
    assert result["task"] == "esc50" and result["n_items"] == 12
    lo, hi = result["ci95"]["accuracy"]
    assert lo <= result["main_score"] <= hi
    assert len((out / "tiny-clap" / "esc50.predictions.csv").read_text().splitlines()) == 13


def test_plugin_returning_the_wrong_shape(small_esc50, tmp_path, plugin_dir):
    (plugin_dir / "badplugin_shape.py").write_text(
        "import numpy as np\n"
        "class OneRowShort:\n"
        "    sample_rate = 16000\n"
        "    def embed_audio(self, waves):\n"
        "        return np.ones((len(waves) - 1, 4), dtype=np.float32)\n"
        "    def embed_text(self, texts):\n"
        "        return np.ones((len(texts), 4), dtype=np.float32)\n"
        "def make():\n"
        "    return OneRowShort()\n"
    )
    res = run("badplugin_shape:make", small_esc50, tmp_path / "out")
    assert_user_error(res, tmp_path / "out", "embed_audio returned shape (11, 4)", "expected (12, D)")


def test_hf_only_options_on_another_model_are_refused(spectral_plugin, small_esc50, tmp_path):
    # a plugin computes its own features and attention: a result must not record --attention eager as if it had run
    for extra, needle in ((("--attention", "eager"), "--attention eager"), (("--front-end", "transformers"), "--front-end transformers")):
        res = run(spectral_plugin, small_esc50, tmp_path / "out", *extra)
        assert_user_error(res, tmp_path / "out", spectral_plugin, needle, "apply to HF ClapModel folders only")
    from rich.console import Console

    import clapbench
    from clapbench.errors import ModelError
    from clapbench.models.plugin import load_plugin

    with pytest.raises(ModelError, match="--attention sdpa apply to HF ClapModel folders only"):
        clapbench.evaluate(load_plugin(spectral_plugin), "esc50", data={"esc50": str(small_esc50)}, attention="sdpa", console=Console(quiet=True))
