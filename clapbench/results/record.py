"""The result record: one typed schema for what `clapbench run` writes and everything else reads.

A record is written by the runner (``write_record``) and read back by the leaderboard, the report,
`compare`, the trainer's evaluations and `cache info` (``read_record``, ``load_results``). Fields
every record has are typed; what an evaluation adds (retrieval's directions, a probe's folds,
captioning samples) rides along as extra fields, kept as written.

Versions: 2 adds ``schema_version``, the run ``fingerprint``, the ``subset`` and ``contamination``
marks. Files without ``schema_version`` are version 1 (clapbench before the schema): they are read,
their subset mark derived from what they recorded (``limited``), their fingerprint absent, so they
are never kept in place of a new run's result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from clapbench.errors import ClapbenchError

SCHEMA_VERSION = 2
# What makes a JSON file a result (other JSON files in a results folder, e.g. training.json, are skipped).
RESULT_KEYS = frozenset({"task", "main_score", "main_metric", "model"})


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    id_given: str | None = None
    path: str | None = None
    kind: str | None = None
    family: str | None = None
    variant: str | None = None

    @property
    def label(self) -> str:
        """'hf-clap htsat-unfused', 'msclap-2023': family and variant (when the family's name does not hold it already)."""
        if not self.family:
            return ""
        return self.family if not self.variant or self.family.endswith(self.variant) else f"{self.family} {self.variant}"


class SubsetMark(BaseModel):
    """How much of the official evaluation data a result covers."""

    model_config = ConfigDict(extra="forbid")

    is_subset: bool
    n_items: int | None = None
    official_items: int | None = None
    n_classes: int | None = None
    official_classes: int | None = None
    reasons: list[str] = Field(default_factory=list)  # e.g. "--limit 20", "folds 5 of 1-5", "1900 of 2000 items"
    note: str = ""  # e.g. the task file's word on an uncertain official count

    @property
    def label(self) -> str:
        """'subset 88/2000' (or '' for a full result)."""
        if not self.is_subset:
            return ""
        if self.n_items is not None and self.official_items:
            return f"subset {self.n_items}/{self.official_items}"
        return "subset"


class Contamination(BaseModel):
    """Items of this result the model was trained on (from the checkpoint's training.json)."""

    model_config = ConfigDict(extra="forbid")

    n_overlap: int
    n_items: int
    source: str  # the training.json that says so
    trained_on: list[str] = Field(default_factory=list)  # its task names or pair lists

    @property
    def label(self) -> str:
        return f"contaminated {self.n_overlap}/{self.n_items}" if self.n_overlap else ""


class Fingerprint(BaseModel):
    """A hash of everything that decides a result's numbers, and those fields."""

    model_config = ConfigDict(extra="forbid")

    sha256: str
    fields: dict[str, Any]


class ResultRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    task: str
    task_version: str | None = None
    domain: str | None = None
    evaluation: str | None = None
    variant: str | None = None  # "linear-probe"; None: the task's own evaluation
    model: ModelRef
    model_sha: str | None = None
    main_metric: str
    main_score: float
    metrics: dict[str, Any] = Field(default_factory=dict)
    ci95: dict[str, list[float] | None] = Field(default_factory=dict)
    n_items: int | None = None
    n_classes: int | None = None
    chance: float | None = None
    folds: list[str] = Field(default_factory=list)
    limit: int | None = None
    subset: SubsetMark | None = None  # None: not known (a version 1 file)
    contamination: Contamination | None = None  # None: nothing known of the model's training data
    fingerprint: Fingerprint | None = None
    items_file: str | None = None
    seconds: float | None = None
    created: str | None = None
    # where the record was read from (not written)
    file: str | None = Field(default=None, exclude=True)

    @property
    def model_id(self) -> str:
        return self.model.id

    @property
    def name(self) -> str:
        """The result's file stem: ``esc50`` or ``esc50.linear-probe``."""
        return self.task + (f".{self.variant}" if self.variant else "")

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.model.id, self.task, self.variant)

    @computed_field  # written for readers of the JSON; derived from ``limit`` on read
    @property
    def limited(self) -> bool:
        return self.limit is not None

    @property
    def interval(self) -> tuple[float, float]:
        ci = self.ci95.get(self.main_metric)
        return (float(ci[0]), float(ci[1])) if ci else (self.main_score, self.main_score)

    @property
    def marks(self) -> list[str]:
        """What a table must say beside the score: 'subset 88/2000', 'contaminated 4/5', 'limited'."""
        out = []
        if self.subset is not None and self.subset.is_subset:
            out.append(self.subset.label)
        if self.contamination is not None and self.contamination.n_overlap:
            out.append(self.contamination.label)
        return out

    def extra(self, name: str, default: Any = None) -> Any:
        """A field an evaluation added (e.g. ``caption_samples``), or ``default``."""
        return (self.model_extra or {}).get(name, default)


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 file's fields in the version 2 shape."""
    data = dict(data)
    data["schema_version"] = 1
    if not isinstance(data.get("model"), dict):
        data["model"] = {"id": str(data.get("model"))}
    limited = bool(data.pop("limited", False))
    if data.get("limit") is not None and not limited:
        data["limit"] = None
    if limited:
        data["subset"] = {"is_subset": True, "n_items": data.get("n_items"), "reasons": [f"--limit {data.get('limit')}"],
                          "note": "recorded by an earlier clapbench, which did not compare with the official size"}
    data["folds"] = [str(f) for f in data.get("folds") or []]
    return data


def parse_record(data: Any, where: str) -> ResultRecord | None:
    """The record in a parsed JSON document; None when it is not a result; ClapbenchError when it is a malformed one."""
    if not isinstance(data, dict) or not RESULT_KEYS <= data.keys():
        return None
    version = data.get("schema_version")
    if version is None:
        data = _upgrade(data)
    elif not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ClapbenchError(f"{where}: result schema_version {version!r}; this clapbench reads versions 1 to {SCHEMA_VERSION} (upgrade clapbench)")
    else:
        data = {k: v for k, v in data.items() if k != "limited"}  # derived from limit
    try:
        record = ResultRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"])
        raise ClapbenchError(f"{where}: not a valid clapbench result: {at}: {first['msg']}") from None
    record.file = where
    return record


def read_record(path: Path | str) -> ResultRecord | None:
    """The result in ``path``; None when the JSON file is not a result; ClapbenchError for unreadable or malformed files."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ClapbenchError(f"{path}: cannot read ({exc})") from None
    except ValueError as exc:
        raise ClapbenchError(f"{path}: not valid JSON ({exc})") from None
    return parse_record(data, str(path))


def read_records(paths: list[Path]) -> list[ResultRecord]:
    return [r for r in (read_record(p) for p in paths) if r is not None]


def load_results(folders: Path | str | list) -> list[ResultRecord]:
    """Every result under each folder (``<model-id>/<task>.json``, or one model's ``<task>.json``), skipping
    other JSON files.

    Several folders are read as one; the same (model, task, evaluation) in two of them is refused, since a
    table could show only one of the two numbers."""
    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    out: list[ResultRecord] = []
    seen: dict[tuple, str] = {}
    files: dict[Path, Path] = {}  # a folder given twice, or inside another given, is read once
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ClapbenchError(f"{folder}: results folder not found")
        # A results folder holds <model-id>/<task>.json; one model's folder (<task>.json) is accepted too.
        found = sorted(folder.glob("*/*.json")) or sorted(folder.glob("*.json"))
        files.update((f.resolve(), f) for f in found if f.resolve() not in files)
    for record in read_records(list(files.values())):
        if record.key in seen:
            raise ClapbenchError(f"{record.file}: model {record.model_id} on task {record.task} is also in {seen[record.key]}; "
                                 "give folders that hold each (model, task) once, or another --model-id to one run")
        seen[record.key] = str(record.file)
        out.append(record)
    return out


def record_json(record: ResultRecord) -> str:
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_record(path: Path, record: ResultRecord) -> None:
    from clapbench.files import atomic_write_text

    atomic_write_text(path, record_json(record))
