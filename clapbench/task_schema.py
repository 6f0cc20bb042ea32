"""The schema of a task file (tasks/*.yaml): every key a reader or an evaluation reads, and its type.

A task file is validated before the registry builds its TaskSpec, so a misspelt key or a wrong type is
refused with one line naming the file and the key, instead of being ignored until a run reads a default.
Models are strict (YAML's own types, no "50" -> 50) and forbid unknown keys. ``dataset`` is checked by
the model of its reader (``dataset.reader``, or ``source_task`` for tasks built from another task's
clips), ``evaluation`` by the model of its type. Value rules (which metric names, which f1_rule) stay
with the code that applies them, whose messages say what each value means.

``include: _base.yaml`` (or a list) deep-merges bases under a file: the file's keys win, mappings merge,
lists are replaced. A base is found beside the including file, else among the built-in task folders,
so a copy of a shipped task file still finds its shipped base.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clapbench.errors import TaskError

StrList = Union[str, list[str]]  # one path, or candidates tried in order
Scalar = Union[str, int, float, bool]
Folds = list[Union[int, str]]

# libyaml's safe loader where PyYAML was built with it (10x faster on the 48 task files), else the Python one
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


# ---- dataset ------------------------------------------------------------------------------------


class HfParams(Strict):
    """``dataset.hf``: the columns of a local HuggingFace parquet copy (clapbench/data/hf_parquet.py)."""

    files: StrList
    label_column: str
    audio_column: str | None = None
    label_names_column: str | None = None
    label_separator: str | None = None
    fold_column: str | None = None
    folds: Folds | None = None


class DelimitedParams(Strict):
    """How a table is read (clapbench/data/readers/delimited.py)."""

    header: Union[str, bool, None] = None  # "none" (or false): headerless, ``names`` label its columns
    names: list[str] | None = None
    sep: str | None = None
    comment: str | None = None
    skipinitialspace: bool | None = None


class ClassTableParams(DelimitedParams):
    """``class_table``: class order and code -> name map from its own file (readers/class_table.py)."""

    file: StrList
    name_column: str
    code_column: str | None = None
    order_column: str | None = None


class SplitParams(Strict):
    """``dataset.splits``: a declared linear-probe split (evaluations/linear_probe.py)."""

    train: Union[Folds, int, str, None] = None
    validation: Union[Folds, int, str, None] = None
    val: Union[Folds, int, str, None] = None
    test: Union[Folds, int, str, None] = None


class DatasetCommon(Strict):
    """Keys every reader's mapping may hold: they are read by the locator, `data check` and the runner."""

    archive_root: str | None = None  # the archive's own top folder (data/locate.py, readers/__init__.py)
    marker: str | None = None  # a path or glob showing the layout is there (data/locate.py)
    layout_name: str | None = None  # for messages
    shares_data_with: str | None = None  # another task whose data folder serves this one
    allow_paths_outside: bool | None = None  # data/containment.py
    expected_items: int | None = None  # the official item count (`data check` compares a copy to it)
    expected_items_note: str | None = None  # why the count is uncertain, where it is
    hf: HfParams | None = None
    splits: SplitParams | None = None


class CsvDataset(DatasetCommon, DelimitedParams):
    """reader: csv (clapbench/data/readers/table.py)."""

    reader: Literal["csv"]
    metadata: str
    metadata_fallbacks: StrList | None = None
    filter: dict[str, Union[Scalar, list[Scalar]]] | None = None
    path_column: str | None = None
    path_template: StrList | None = None
    audio_dir: str | None = None
    audio_dirs: StrList | None = None
    missing: str | None = None
    label_column: str | None = None
    label_separator: str | None = None
    label_columns: list[str] | None = None
    positive_threshold: Union[int, float, None] = None
    group_rows: bool | None = None
    class_table: ClassTableParams | None = None
    class_order_column: str | None = None
    fold_column: str | None = None
    folds: Folds | None = None


class FilesDataset(DatasetCommon):
    """reader: files, labels from file names (clapbench/data/readers/files.py)."""

    reader: Literal["files"]
    audio_glob: StrList
    pattern: str
    label_map: dict[Union[str, int], Union[str, int]] | None = None
    exclude: str | None = None
    on_mismatch: str | None = None
    folds: Folds | None = None
    fold_map: dict[Union[str, int], Union[str, int]] | None = None
    hear_kfold: int | None = None


class NsynthDataset(DatasetCommon):
    """reader: nsynth (clapbench/data/readers/nsynth.py)."""

    reader: Literal["nsynth"]
    label_field: str
    metadata: str | None = None
    audio_dir: str | None = None
    drop_unlisted: bool | None = None


class JsonDatafileDataset(DatasetCommon):
    """reader: json-datafile (clapbench/data/readers/datafile.py)."""

    reader: Literal["json-datafile"]
    metadata: StrList
    path_key: str | None = None
    label_key: str | None = None
    label_separator: str | None = None
    label_map: dict[str, str] | None = None
    class_table: ClassTableParams | None = None
    audio_dirs: StrList | None = None


class ClothoDataset(DatasetCommon):
    """reader: clotho (clapbench/data/readers/clotho.py)."""

    reader: Literal["clotho"]
    metadata: str | None = None
    audio_dir: str | None = None
    path_column: str | None = None
    caption_columns: list[str] | None = None


class AudiocapsDataset(DatasetCommon):
    """reader: audiocaps (clapbench/data/readers/audiocaps.py)."""

    reader: Literal["audiocaps"]
    metadata: StrList | None = None
    audio_dirs: list[str] | None = None
    audio_patterns: list[str] | None = None
    audio_formats: list[str] | None = None
    clip_seconds: Union[int, float, None] = None
    min_coverage: Union[int, float, None] = None


class DerivedDataset(Strict):
    """source_task: items built from pairs of another task's clips (clapbench/temporal/items.py, probe.py)."""

    source_task: str
    pairs: int | None = None
    clip_seconds: Union[int, float, None] = None
    overlay_level: str | None = None


DERIVED = "source_task"  # the discriminator value of tasks without a reader of their own
DATASET_MODELS: dict[str, type[Strict]] = {
    "csv": CsvDataset,
    "files": FilesDataset,
    "nsynth": NsynthDataset,
    "json-datafile": JsonDatafileDataset,
    "clotho": ClothoDataset,
    "audiocaps": AudiocapsDataset,
}

# ---- evaluation ---------------------------------------------------------------------------------


class EvaluationCommon(Strict):
    main_metric: str
    metrics: list[str] | None = None


class LinearProbeParams(Strict):
    """``evaluation.linear_probe`` (clapbench/evaluations/linear_probe.py)."""

    train_folds: Union[Folds, int, str, None] = None
    validation_folds: Union[Folds, int, str, None] = None
    test_folds: Union[Folds, int, str, None] = None
    c_grid: list[Union[int, float]] | None = None


class ZeroShotEvaluation(EvaluationCommon):
    """clapbench/evaluations/zero_shot.py (and the linear probe of the same task)."""

    type: Literal["zero-shot-classification"]
    multilabel: bool | None = None
    f1_rule: str | None = None
    f1_threshold: Union[int, float, None] = None
    linear_probe: LinearProbeParams | None = None


class RetrievalEvaluation(EvaluationCommon):
    """clapbench/evaluations/retrieval.py."""

    type: Literal["retrieval"]
    direction_main_metrics: dict[str, str] | None = None
    chunk_rows: int | None = None


class CaptioningEvaluation(EvaluationCommon):
    """clapbench/evaluations/captioning.py."""

    type: Literal["captioning"]
    fallback_main_metric: str | None = None


class ZsteEvaluation(EvaluationCommon):
    """clapbench/temporal/zste.py."""

    type: Literal["zste"]
    probe: int
    captions: int | None = None  # ZSTE-4
    other_classes: int | None = None  # ZSTE-4


class OrderPairsEvaluation(EvaluationCommon):
    """clapbench/temporal/order.py."""

    type: Literal["order-pairs"]


class FrameProbeEvaluation(EvaluationCommon):
    """clapbench/temporal/frames.py."""

    type: Literal["frame-probe"]
    probe: str


EVALUATION_MODELS: dict[str, type[Strict]] = {
    "zero-shot-classification": ZeroShotEvaluation,
    "retrieval": RetrievalEvaluation,
    "captioning": CaptioningEvaluation,
    "zste": ZsteEvaluation,
    "order-pairs": OrderPairsEvaluation,
    "frame-probe": FrameProbeEvaluation,
}

# ---- the file -----------------------------------------------------------------------------------


class Classes(Strict):
    count: int | None = None  # the official class count
    display: str | None = None  # as_is | underscores_to_spaces (TaskSpec.display_name says which exist)
    names: list[str] | None = None
    prompt_names: dict[str, str] | None = None


class Prompts(Strict):
    """Class templates (each holding one '{}') and the temporal probes' named wordings (temporal/prompts.py)."""

    templates: list[str] | None = None
    before: str | None = None
    while_: str | None = Field(None, alias="while")
    first: str | None = None
    second: str | None = None


class TaskFile(Strict):
    name: str
    version: str  # quoted in YAML: an unquoted 1.10 would read as 1.1
    domain: str
    title: str | None = None
    description: str | None = None
    citation: str | None = None
    homepage: str | None = None
    groups: list[str] | None = None
    msclap_domain: str | None = None  # MS-CLAP 2023 Table 2's grouping, where it differs from domain
    chance: Union[int, float, None] = None
    dataset: dict[str, Any]  # checked by the reader's model (dataset_model)
    classes: Classes | None = None
    prompts: Prompts
    evaluation: dict[str, Any]  # checked by the evaluation type's model (evaluation_model)


# Sections whose model depends on a value inside them.
SECTIONS = {"dataset": lambda d: dataset_model(d), "evaluation": lambda d: evaluation_model(d)}

# ---- resolving includes -------------------------------------------------------------------------


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.load(path.read_text(), Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: not valid YAML ({exc})") from None
    except OSError as exc:
        raise TaskError(f"{path}: cannot read the task file ({exc.strerror})") from None
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: expected a mapping of task fields")
    return raw


def _include_path(name: str, including: Path, search: list[Path]) -> Path:
    for folder in [including.parent, *search]:
        if (folder / name).is_file():
            return folder / name
    where = " or ".join(str(f) for f in dict.fromkeys([including.parent, *search]))
    raise TaskError(f"{including}: include '{name}' not found in {where}")


def resolve(path: Path, search: list[Path] | None = None, _seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[tuple[Path, dict]]]:
    """The file with its includes merged under it, and the layers it was made of (the file first, then
    its bases, nearest first) so that a message can name the file a bad key came from."""
    path = Path(path)
    if path.resolve() in _seen:
        raise TaskError(f"{path}: include cycle ({' -> '.join(p.name for p in (*_seen, path))})")
    raw = read_yaml(path)
    names = raw.get("include", [])
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise TaskError(f"{path}: include: expected a file name or a list of file names, got {names!r}")
    merged: dict[str, Any] = {}
    layers: list[tuple[Path, dict]] = []
    for name in names:
        base, base_layers = resolve(_include_path(name, path, search or []), search, (*_seen, path.resolve()))
        merged = deep_merge(merged, base)
        layers = base_layers + layers
    own = {k: v for k, v in raw.items() if k != "include"}
    return deep_merge(merged, own), [(path, own), *layers]


def content_sha(task: dict[str, Any]) -> str:
    """sha256 of the resolved task's canonical JSON: a changed base changes every task that includes it."""
    text = json.dumps(task, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---- validation ---------------------------------------------------------------------------------


def dataset_model(dataset: dict[str, Any]) -> type[Strict]:
    if "reader" in dataset:
        kind = dataset["reader"]
        if not isinstance(kind, str) or kind not in DATASET_MODELS:
            raise _Refusal(("dataset", "reader"), f"unknown dataset reader '{kind}'; known readers: {', '.join(sorted(DATASET_MODELS))}")
        return DATASET_MODELS[kind]
    if DERIVED in dataset:
        return DerivedDataset
    raise _Refusal(("dataset",), f"needs 'reader' (one of {', '.join(sorted(DATASET_MODELS))}) or 'source_task' (a task whose clips it pairs)")


def evaluation_model(evaluation: dict[str, Any]) -> type[Strict]:
    kind = evaluation.get("type")
    if kind is None:
        raise _Refusal(("evaluation",), f"needs 'type' (one of {', '.join(sorted(EVALUATION_MODELS))}) and 'main_metric'")
    if not isinstance(kind, str) or kind not in EVALUATION_MODELS:
        raise _Refusal(("evaluation", "type"), f"unknown evaluation type '{kind}'; known types: {', '.join(sorted(EVALUATION_MODELS))}")
    return EVALUATION_MODELS[kind]


class _Refusal(Exception):
    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc, self.message = loc, message


def validate_task(task: dict[str, Any], path: Path, layers: list[tuple[Path, dict]] | None = None) -> dict[str, Any]:
    """``task`` (a resolved task file) checked against the schema; TaskError with one line otherwise."""
    layers = layers or [(path, task)]
    try:
        _validate(TaskFile, task, (), task, path, layers)
        for key, pick in SECTIONS.items():
            _validate(pick(task[key]), task[key], (key,), task, path, layers)
    except _Refusal as refusal:
        raise TaskError(f"{_where(path, refusal.loc, layers)}: {'.'.join(refusal.loc)}: {refusal.message}") from None
    return task


def _validate(model: type[BaseModel], data: Any, prefix: tuple, task: dict[str, Any], path: Path, layers) -> None:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key also leaves its right spelling missing: name the misspelling.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise TaskError(_message(first, prefix, task, path, layers)) from None


def _model_of(prefix: tuple, task: dict[str, Any]) -> type[BaseModel]:
    return SECTIONS[prefix[0]](task[prefix[0]]) if prefix else TaskFile


def _message(error: dict, prefix: tuple, task: dict[str, Any], path: Path, layers) -> str:
    model = _model_of(prefix, task)
    fields, ann, parent = _walk(model, error["loc"])
    key = ".".join(str(p) for p in (*prefix, *fields))
    where = _where(path, (*prefix, *fields), layers)
    if error["type"] == "extra_forbidden":
        known = _keys(parent)
        close = difflib.get_close_matches(str(fields[-1]), known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys here: {', '.join(sorted(known))}"
        return f"{where}: unknown key '{key}'; {hint}"
    if error["type"] == "missing":
        return f"{where}: missing key '{key}' ({describe(ann)})"
    return f"{where}: {key} must be {describe(ann)}, got {_shown(error.get('input'))}"


def _walk(model: type[BaseModel], loc: tuple) -> tuple[list, Any, type[BaseModel]]:
    """The field names along a pydantic error location (union branch names dropped), the annotation
    of the last field, and the model that holds it."""
    fields: list = []
    ann: Any = model
    parent = model
    for part in loc:
        target = _model_in(ann)
        if target is not None and isinstance(part, str):
            by_alias = {(f.alias or n): f for n, f in target.model_fields.items()}
            parent = target
            fields.append(part)
            ann = by_alias[part].annotation if part in by_alias else None
        elif isinstance(part, int) and typing.get_origin(_unwrap_optional(ann)) is list:
            fields[-1] = f"{fields[-1]}[{part}]"
            ann = typing.get_args(_unwrap_optional(ann))[0]
        elif typing.get_origin(_unwrap_optional(ann)) is dict:
            fields.append(part)
            ann = typing.get_args(_unwrap_optional(ann))[1]
        # anything else is the name of a union's branch, which a task file's author never wrote
    return fields, ann, parent


def _unwrap_optional(ann: Any) -> Any:
    args = [a for a in typing.get_args(ann) if a is not type(None)] if _is_union(ann) else None
    return args[0] if args and len(args) == 1 else ann


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (Union, types.UnionType)


def _model_in(ann: Any) -> type[BaseModel] | None:
    ann = _unwrap_optional(ann)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


NOUNS = {str: ("a string", "strings"), int: ("an integer", "integers"), float: ("a number", "numbers"), bool: ("true or false", "true/false values")}


def describe(ann: Any, plural: bool = False) -> str:
    """A field's type as a task file's author reads it ("a list of strings", "an integer or a string")."""
    if _is_union(ann):
        parts = [describe(a, plural) for a in typing.get_args(ann) if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    origin = typing.get_origin(ann)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(ann))
    if origin is list:
        (item,) = typing.get_args(ann) or (Any,)
        return ("lists" if plural else "a list") + f" of {describe(item, True)}"
    if origin is dict:
        key, value = typing.get_args(ann) or (Any, Any)
        return ("mappings" if plural else "a mapping") + f" of {describe(key, True)} to {describe(value, True)}"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ("mappings" if plural else "a mapping") + f" with keys {', '.join(_keys(ann))}"
    return NOUNS.get(ann, ("a value", "values"))[plural]


def _shown(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    text = repr(value)
    kind = {str: "the string", int: "the integer", float: "the number", bool: "", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
    if isinstance(value, (list, dict)):
        return kind
    return f"{kind} {text if len(text) <= 60 else text[:57] + '...'}".strip()


def _where(path: Path, keys: tuple, layers) -> str:
    """The task file, and the base a key came from when an included file set it."""
    for layer_path, raw in layers:
        node: Any = raw
        for key in (str(k).partition("[")[0] for k in keys):
            if not isinstance(node, dict) or key not in node:
                node = _MISSING
                break
            node = node[key]
        if node is not _MISSING:
            return str(path) if layer_path == path else f"{path} (from its include {layer_path})"
    return str(path)


_MISSING = object()
