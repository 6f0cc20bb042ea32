"""The task registry: one declarative YAML file per task (lm-evaluation-harness style).

A task file carries MTEB-style metadata (version, domain, citation, main metric) and everything
the evaluation needs (reader and layout, class names, prompt templates, metrics).
"""

from __future__ import annotations

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
        """The class name as prompts should read it."""
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


def parse_task_file(path: Path) -> TaskSpec:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: expected a mapping of task fields")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise TaskError(f"{path}: missing key(s) {', '.join(missing)}")
    templates = raw["prompts"].get("templates") if isinstance(raw["prompts"], dict) else None
    if not templates or not all(is_template(t) for t in templates):
        raise TaskError(f"{path}: prompts.templates must be a list of strings each holding exactly one '{{}}' (other braces doubled)")
    evaluation = raw["evaluation"]
    if "type" not in evaluation or "main_metric" not in evaluation:
        raise TaskError(f"{path}: evaluation needs 'type' and 'main_metric'")
    return TaskSpec(
        name=str(raw["name"]),
        version=str(raw["version"]),
        domain=str(raw["domain"]),
        title=str(raw.get("title", raw["name"])),
        description=str(raw.get("description", "")).strip(),
        citation=str(raw.get("citation", "")).strip(),
        dataset=dict(raw["dataset"]),
        templates=list(templates),
        evaluation=dict(evaluation),
        classes=dict(raw.get("classes") or {}),
        groups=list(raw.get("groups") or []),
        chance=raw.get("chance"),
        source_file=str(path),
    )


@lru_cache(maxsize=8)
def _load_registry(dirs: tuple[Path, ...]) -> dict[str, TaskSpec]:
    tasks: dict[str, TaskSpec] = {}
    for d in dirs:
        for path in sorted(d.glob("*.yaml")):
            spec = parse_task_file(path)
            if path.stem != spec.name:
                raise TaskError(f"{path}: file name must be the task name ('{spec.name}.yaml')")
            tasks.setdefault(spec.name, spec)  # earlier directories (user's) override built-ins
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
            raise TaskError(
                f"unknown task '{name}'; known tasks: {', '.join(sorted(tasks))}; groups: {', '.join(sorted(known_groups))}"
            )
    if not chosen:
        raise TaskError("no task given; pass --tasks NAME[,NAME...] (see `clapbench tasks`)")
    return [tasks[n] for n in dict.fromkeys(chosen)]
