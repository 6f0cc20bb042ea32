"""The registered tasks as records: what `clapbench tasks` prints and ``clapbench.tasks()`` tabulates.

Kept apart from the API module so that listing tasks imports neither pandas nor torch."""

from __future__ import annotations

from typing import Any, Iterable

from clapbench.errors import ClapbenchError
from clapbench.registry import groups, registry


def split_names(value: str | Iterable[str] | None) -> list[str]:
    """'a,b' or ['a', 'b'] -> ['a', 'b'] (what every option that names tasks, folds or groups takes)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def task_records(domain: str | Iterable[str] | None = None, group: str | Iterable[str] | None = None,
                 tasks_dir: str | Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One dict per registered task (name, version, domain, evaluation, groups, classes, main metric, chance,
    templates, official size), filtered by domain and group."""
    reg = registry(split_names(tasks_dir) if tasks_dir else None)
    named = groups(reg)
    for g in split_names(group):
        if g not in named:
            raise ClapbenchError(f"--group '{g}' is not a group; groups: {', '.join(sorted(named))}")
    known_domains = sorted({spec.domain for spec in reg.values()})
    for d in split_names(domain):
        if d not in known_domains:
            raise ClapbenchError(f"--domain '{d}' is not a domain; domains: {', '.join(known_domains)}")
    out = []
    for name, spec in sorted(reg.items()):
        if split_names(domain) and spec.domain not in split_names(domain):
            continue
        if split_names(group) and not any(name in named[g] for g in split_names(group)):
            continue
        from clapbench.results.marks import official_counts

        items, classes, note = official_counts(spec)
        out.append({
            "name": name, "version": spec.version, "domain": spec.domain, "evaluation": spec.eval_type,
            "groups": sorted(g for g, members in named.items() if name in members and g != "all"),
            "classes": spec.classes.get("count"), "multilabel": spec.multilabel, "main_metric": spec.main_metric,
            "chance": spec.chance, "templates": spec.templates, "official_items": items, "official_note": note or None,
            "source_task": spec.source.name if spec.source is not None else None,
        })
    return out
