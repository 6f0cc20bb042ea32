"""The task registry: one declarative YAML file per task (lm-evaluation-harness style).

A task file carries MTEB-style metadata (version, domain, citation, main metric) and everything
the evaluation needs (reader and layout, class names, prompt templates, metrics).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from clapbench.errors import TaskError
from clapbench.task_schema import content_sha, resolve, validate_task

PACKAGE_DIR = Path(__file__).resolve().parent
# A wheel carries the task files inside the package; a source checkout has them at the top.
BUILTIN_TASK_DIRS = [PACKAGE_DIR / "_tasks", PACKAGE_DIR.parent / "tasks"]
REQUIRED_KEYS = ("name", "version", "domain", "dataset", "prompts", "evaluation")


@dataclass
class TaskSpec:
    name: str
    version: str
    domain: str
    title: str
    description: str
    citation: str
    dataset: dict[str, Any]
    templates: list[str]
    evaluation: dict[str, Any]
    classes: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    chance: float | None = None
    source_file: str = ""
    # Named prompt wordings other than class templates (e.g. the temporal probes' "{a} before {b}").
    prompts: dict[str, Any] = field(default_factory=dict)
    # Tasks built from another task's clips (dataset.source_task) carry that task here.
    source: "TaskSpec | None" = None
    # The release's official counts (dataset.expected_items, classes.count; a derived task's items are its
    # pairs), and why a count is uncertain where it is (dataset.expected_items_note).
    official_items: int | None = None
    official_classes: int | None = None
    official_note: str = ""
    # sha256 of the resolved, validated task file (its included bases merged in).
    content_sha: str = ""

    @property
    def main_metric(self) -> str:
        return self.evaluation["main_metric"]

    @property
    def metrics(self) -> list[str]:
        return list(self.evaluation.get("metrics", [self.main_metric]))

    @property
    def multilabel(self) -> bool:
        return bool(self.evaluation.get("multilabel", False))

    @property
    def eval_type(self) -> str:
        return self.evaluation["type"]

    def display_name(self, class_name: str) -> str:
        """The class name as prompts should read it (a derived task reads its source's classes)."""
        if self.source is not None:
            return self.source.display_name(class_name)
        overrides = self.classes.get("prompt_names") or {}
        if class_name in overrides:
            return overrides[class_name]
        rule = self.classes.get("display", "as_is")
        if rule == "underscores_to_spaces":
            return class_name.replace("_", " ")
        if rule != "as_is":
            raise TaskError(f"{self.source_file}: unknown classes.display rule '{rule}'")
        return class_name

    def with_templates(self, templates: list[str]) -> "TaskSpec":
        clone = TaskSpec(**{**self.__dict__, "templates": list(templates)})
        return clone

    def with_prompts(self, prompts: dict[str, str]) -> "TaskSpec":
        return TaskSpec(**{**self.__dict__, "prompts": {**self.prompts, **prompts}})

    @property
    def source_task(self) -> str | None:
        """The task whose dataset this task's items are built from (None: the task has its own)."""
        name = self.dataset.get("source_task")
        return str(name) if name else None

    def with_source(self, source: "TaskSpec") -> "TaskSpec":
        """This task built from ``source``; named ``task@source`` unless it is the task file's own source,
        so results from different sources never share a file or a leaderboard column."""
        check_source(self, source)
        default = self.source_task
        name = self.name if source.name == default else f"{self.name.split('@')[0]}@{source.name}"
        classes = self.official_classes if self.official_classes is not None else source.official_classes
        return TaskSpec(**{**self.__dict__, "name": name, "source": source, "official_classes": classes})


def check_source(spec: TaskSpec, source: TaskSpec) -> None:
    if source.source_task or source.eval_type != "zero-shot-classification" or source.multilabel:
        raise TaskError(
            f"task {spec.name}: source task '{source.name}' cannot build its items; expected a single-label "
            f"classification task (evaluation type zero-shot-classification, multilabel false), got "
            f"type '{source.eval_type}'{' (multi-label)' if source.multilabel else ''}"
        )


def is_template(text: object) -> bool:
    """A prompt template holds exactly one '{}' (the class name) and no other format field."""
    if not isinstance(text, str):
        return False
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError:  # an unmatched brace
        return False
    return fields == [""]


def template_sha(templates: list[str]) -> str:
    return hashlib.sha256(json.dumps(list(templates), ensure_ascii=False).encode()).hexdigest()[:16]


def task_dirs(extra: list[str] | None = None) -> list[Path]:
    dirs = [Path(p) for p in (extra or [])]
    env = os.environ.get("CLAPBENCH_TASKS_DIR")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    return dirs + [d for d in BUILTIN_TASK_DIRS if d.is_dir()]


def is_base(path: Path) -> bool:
    """A file named _*.yaml is a base that task files include, not a task."""
    return path.name.startswith("_")


def parse_task_file(path: Path) -> TaskSpec:
    path = Path(path)
    raw, layers = resolve(path, [d for d in BUILTIN_TASK_DIRS if d.is_dir()])
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise TaskError(f"{path}: missing key(s) {', '.join(missing)}")
    validate_task(raw, path, layers)
    evaluation = raw["evaluation"]
    if "type" not in evaluation or "main_metric" not in evaluation:
        raise TaskError(f"{path}: evaluation needs 'type' and 'main_metric'")
    prompts = raw["prompts"]
    if not isinstance(prompts, dict):
        raise TaskError(f"{path}: prompts must be a mapping (prompts.templates: a list of strings holding '{{}}')")
    templates = prompts.get("templates")
    # Classification needs class templates; other evaluation types may name their own prompt wordings.
    if templates is not None or evaluation["type"] == "zero-shot-classification":
        if not templates or not all(is_template(t) for t in templates):
            raise TaskError(f"{path}: prompts.templates must be a list of strings each holding exactly one '{{}}' (other braces doubled)")
    named = {k: v for k, v in prompts.items() if k != "templates"}
    bad = [k for k, v in named.items() if not isinstance(v, str)]
    if bad:
        raise TaskError(f"{path}: prompts.{bad[0]} must be a string")
    return TaskSpec(
        name=str(raw["name"]),
        version=str(raw["version"]),
        domain=str(raw["domain"]),
        title=str(raw.get("title", raw["name"])),
        description=str(raw.get("description", "")).strip(),
        citation=str(raw.get("citation", "")).strip(),
        dataset=dict(raw["dataset"]),
        templates=list(templates or []),
        evaluation=dict(evaluation),
        classes=dict(raw.get("classes") or {}),
        groups=list(raw.get("groups") or []),
        chance=raw.get("chance"),
        source_file=str(path),
        prompts=named,
        official_items=_official_items(raw["dataset"]),
        official_classes=(raw.get("classes") or {}).get("count"),
        official_note=str(raw["dataset"].get("expected_items_note") or "").strip(),
        content_sha=content_sha(raw),
    )


def _official_items(dataset: dict[str, Any]) -> int | None:
    """The release's item count; a task built from another task's clips has as many items as pairs."""
    if dataset.get("source_task"):
        return dataset.get("pairs")
    return dataset.get("expected_items")


@lru_cache(maxsize=8)
def _load_registry(dirs: tuple[Path, ...]) -> dict[str, TaskSpec]:
    tasks: dict[str, TaskSpec] = {}
    for d in dirs:
        for path in sorted(p for p in d.glob("*.yaml") if not is_base(p)):
            spec = parse_task_file(path)
            if path.stem != spec.name:
                raise TaskError(f"{path}: file name must be the task name ('{spec.name}.yaml')")
            tasks.setdefault(spec.name, spec)  # earlier directories (user's) override built-ins
    for name, spec in tasks.items():
        if spec.source_task:
            if spec.source_task not in tasks:
                raise TaskError(f"{spec.source_file}: dataset.source_task '{spec.source_task}' is not a known task")
            tasks[name] = spec.with_source(tasks[spec.source_task])
    return tasks


def registry(extra_dirs: list[str] | None = None) -> dict[str, TaskSpec]:
    return dict(_load_registry(tuple(task_dirs(extra_dirs))))


def groups(tasks: dict[str, TaskSpec]) -> dict[str, list[str]]:
    """Named task groups: 'all', each domain, and any group a task file declares."""
    out: dict[str, list[str]] = {"all": sorted(tasks)}
    for spec in tasks.values():
        out.setdefault(spec.domain, []).append(spec.name)
        for g in spec.groups:
            out.setdefault(g, []).append(spec.name)
    return {k: sorted(set(v)) for k, v in out.items()}


def resolve_tasks(names: str, tasks: dict[str, TaskSpec]) -> list[TaskSpec]:
    """Expand a comma-separated list of task and group names, keeping order and dropping repeats."""
    known_groups = groups(tasks)
    chosen: list[str] = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        if name in tasks:
            chosen.append(name)
        elif name in known_groups:
            chosen.extend(known_groups[name])
        else:
            close = difflib.get_close_matches(name, [*tasks, *known_groups], n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise TaskError(
                f"unknown task '{name}'; {hint}known tasks: {', '.join(sorted(tasks))}; groups: {', '.join(sorted(known_groups))}"
            )
    if not chosen:
        raise TaskError("no task given; pass --tasks NAME[,NAME...] (see `clapbench tasks`)")
    return [tasks[n] for n in dict.fromkeys(chosen)]
