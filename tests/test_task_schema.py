"""The task-file schema: every shipped file validates; misspelt keys, wrong types and unknown readers
are refused in one line naming the file and the key; includes merge; bases are not tasks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from clapbench.errors import TaskError
from clapbench.registry import parse_task_file, registry, resolve_tasks
from clapbench.task_schema import DATASET_MODELS, EVALUATION_MODELS, deep_merge, resolve

TASKS = Path(__file__).resolve().parents[1] / "tasks"
SHIPPED = sorted(p for p in TASKS.glob("*.yaml") if not p.name.startswith("_"))


def esc50() -> dict:
    return yaml.safe_load((TASKS / "esc50.yaml").read_text())


def write(folder: Path, name: str, raw: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(TaskError) as info:
        parse_task_file(path)
    message = str(info.value)
    assert "\n" not in message and "pydantic" not in message and "validation error" not in message, message
    return message


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_task_file_validates_and_declares_its_counts(path):
    spec = parse_task_file(path)
    assert spec.name == path.stem and len(spec.content_sha) == 64
    if spec.source_task:  # items are pairs of another task's clips
        assert spec.official_items == spec.dataset["pairs"] and "expected_items" not in spec.dataset
    else:
        assert isinstance(spec.dataset.get("expected_items"), int) and spec.official_items == spec.dataset["expected_items"]
        assert spec.official_note == str(spec.dataset.get("expected_items_note", "")).strip()
    if spec.eval_type == "zero-shot-classification":
        assert isinstance(spec.classes.get("count"), int) and spec.official_classes == spec.classes["count"]


def test_schema_knows_every_registered_reader_and_evaluation_type():
    from clapbench.data.readers import READERS
    from clapbench.evaluations import EVALUATIONS, get_evaluation

    READERS.discover()
    get_evaluation("zero-shot-classification")  # imports every evaluation module
    assert set(DATASET_MODELS) == set(READERS)
    # linear-probe runs on a classification task's file; it is no evaluation.type of its own
    assert set(EVALUATION_MODELS) == set(EVALUATIONS) - {"linear-probe"}


def test_misspelt_keys_name_the_file_the_key_and_the_closest_key(tmp_path):
    raw = esc50()
    raw["dataset"]["lable_column"] = raw["dataset"].pop("label_column")
    path = write(tmp_path, "esc50", raw)
    message = refusal(path)
    assert str(path) in message and "dataset.lable_column" in message and "did you mean 'label_column'?" in message

    raw = esc50()
    raw["descripton"] = raw.pop("description")
    message = refusal(write(tmp_path / "top", "esc50", raw))
    assert "'descripton'" in message and "did you mean 'description'?" in message

    raw = esc50()
    raw["dataset"]["hf"]["label_colum"] = raw["dataset"]["hf"].pop("label_column")
    assert "dataset.hf.label_colum" in refusal(write(tmp_path / "hf", "esc50", raw))


def test_wrong_types_name_the_key_and_the_expected_type(tmp_path):
    raw = esc50()
    raw["classes"]["count"] = "fifty"
    message = refusal(write(tmp_path, "esc50", raw))
    assert "classes.count must be an integer" in message and "'fifty'" in message
    raw = esc50()
    raw["dataset"]["folds"] = [1, 2, 3.5]
    assert "dataset.folds[2] must be an integer or a string" in refusal(write(tmp_path / "f", "esc50", raw))
    raw = esc50()
    raw["version"] = 1.0  # unquoted, YAML reads a number (and 1.10 would read as 1.1)
    assert "version must be a string" in refusal(write(tmp_path / "v", "esc50", raw))


def test_unknown_reader_and_evaluation_type_list_the_known_ones(tmp_path):
    raw = esc50()
    raw["dataset"]["reader"] = "cvs"
    message = refusal(write(tmp_path, "esc50", raw))
    assert "dataset.reader" in message and "'cvs'" in message and ", ".join(sorted(DATASET_MODELS)) in message
    raw = esc50()
    raw["evaluation"]["type"] = "zero-shot"
    message = refusal(write(tmp_path / "e", "esc50", raw))
    assert "evaluation.type" in message and ", ".join(sorted(EVALUATION_MODELS)) in message
    raw["evaluation"]["type"] = ["zero-shot-classification"]  # not a name at all
    assert "unknown evaluation type" in refusal(write(tmp_path / "l", "esc50", raw))


def test_each_reader_checks_its_own_keys(tmp_path):
    # A key of another reader is unknown here: files-reader tasks have no label_column.
    raw = yaml.safe_load((TASKS / "crema-d.yaml").read_text())
    raw["dataset"]["label_column"] = "emotion"
    shutil.copy(TASKS / "_emotion_prompts.yaml", tmp_path / "_emotion_prompts.yaml")
    assert "unknown key 'dataset.label_column'" in refusal(write(tmp_path, "crema-d", raw))


def test_include_merges_the_base_under_the_file(tmp_path):
    base = {"version": "1.0", "domain": "sound-events", "dataset": esc50()["dataset"], "classes": {"count": 50, "display": "underscores_to_spaces"},
            "prompts": {"templates": ["a {}", "the {}"]}, "evaluation": esc50()["evaluation"], "groups": ["one", "two"]}
    write(tmp_path, "_base", base)
    # The file wins key by key inside mappings; lists are replaced, not appended.
    write(tmp_path, "mine", {"include": "_base.yaml", "name": "mine", "dataset": {"audio_dir": "wav"}, "groups": ["three"],
                             "prompts": {"templates": ["my {}"]}})
    reg = registry([str(tmp_path)])
    spec = reg["mine"]
    assert "_base" not in reg and "_base" not in {g for s in reg.values() for g in s.groups}
    assert spec.dataset == {**base["dataset"], "audio_dir": "wav"} and spec.classes == base["classes"]
    assert spec.templates == ["my {}"] and spec.groups == ["three"] and spec.official_items == 2000
    assert deep_merge({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}}


def test_a_bad_key_from_a_base_names_the_base(tmp_path):
    write(tmp_path, "_base", {"evaluation": {"mulitlabel": False}})
    raw = esc50()
    raw["include"] = ["_base.yaml"]
    message = refusal(write(tmp_path, "esc50", raw))
    assert "evaluation.mulitlabel" in message and "_base.yaml" in message and "did you mean 'multilabel'?" in message


def test_resolved_zste_1_keeps_todays_content():
    spec = registry()["zste-1"]
    assert spec.dataset == {"source_task": "esc50", "pairs": 500, "clip_seconds": 5.0, "overlay_level": "equal_rms"}
    assert spec.templates == ["this is a sound of {}"] and spec.prompts == {}
    assert spec.evaluation == {"type": "zste", "probe": 1, "metrics": ["accuracy", "pair_accuracy"], "main_metric": "accuracy"}
    assert (spec.version, spec.domain, spec.groups) == ("1.0", "temporal", ["zste"]) and "TeminAL" in spec.citation
    assert spec.official_items == 500 and spec.official_classes == registry()["esc50"].official_classes == 50
    assert registry()["zste-2"].metrics == ["accuracy"]  # a list in the file replaces the base's


def test_content_sha_changes_when_an_included_base_changes(tmp_path):
    for name in ("_zste.yaml", "zste-1.yaml"):
        shutil.copy(TASKS / name, tmp_path / name)
    before = parse_task_file(tmp_path / "zste-1.yaml").content_sha
    assert before == registry()["zste-1"].content_sha  # the same content wherever the files lie
    base = tmp_path / "_zste.yaml"
    base.write_text(base.read_text().replace("pairs: 500", "pairs: 400"))
    after = parse_task_file(tmp_path / "zste-1.yaml")
    assert after.dataset["pairs"] == 400 and after.content_sha != before
    assert resolve(tmp_path / "zste-1.yaml")[0]["dataset"]["pairs"] == 400


def test_unknown_task_names_suggest_the_closest(tmp_path):
    reg = registry()
    with pytest.raises(TaskError, match=r"unknown task 'esc5O'; did you mean 'esc50'\?"):
        resolve_tasks("esc5O", reg)
    with pytest.raises(TaskError, match=r"did you mean 'msclap-2023'\?"):
        resolve_tasks("msclap2023", reg)
