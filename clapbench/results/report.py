"""One self-contained HTML report of a results folder: leaderboard, score bars, per-class views, provenance.

Everything is inline (styles, the small sorting script, plots as SVG), so the file opens from disk
with no server and no network. The table comes from ``build_leaderboard``; plots are drawn with
matplotlib; per-class numbers come from the per-item files (``<task>.items.npz``) next to results.
"""

from __future__ import annotations

import html
import io
import time
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd

import clapbench
from clapbench.errors import ClapbenchError
from clapbench.results.leaderboard import build_leaderboard, column_kind
from clapbench.results.published import PublishedNumber, load_published, on_main_metric
from clapbench.results.marks import record_marks
from clapbench.results.record import ResultRecord, load_results
from clapbench.files import read_npz

MAX_CLASSES_PLOTTED = 40  # beyond this, the per-class chart shows the best and worst classes; the table has all
MAX_CLASSES_LABELLED = 60  # confusion matrices of more classes carry no tick labels


@dataclass
class TaskItems:
    """A model's per-item scores on a classification task (from ``<task>.items.npz``)."""

    model: str
    ids: np.ndarray  # the items (clip paths)
    y: np.ndarray  # (n,) class indices, or (n, C) 0/1 for multi-label tasks
    scores: np.ndarray  # (n, C)
    multilabel: bool


def write_report(results_dirs: Path | list[Path], output: Path, task: str | None = None, published: bool = False) -> None:
    from clapbench.files import atomic_write_text

    atomic_write_text(Path(output), build_report(results_dirs, task, published))


def build_report(results_dirs: Path | list[Path], task: str | None = None, published: bool = False) -> str:
    folders = [Path(results_dirs)] if isinstance(results_dirs, (str, Path)) else [Path(f) for f in results_dirs]
    records = load_results(folders)
    results_dir = ", ".join(map(str, folders))
    if not records:
        raise ClapbenchError(f"{results_dir}: no result files (<model-id>/<task>.json) found")
    table, _ = build_leaderboard(records)
    results = [_run_view(r) for r in records]
    models = list(table["model"])
    by_model_task = {(_model_id(r), r["task"]): r for r in results}
    tasks = [column_kind(c)[2] for c in table.columns if column_kind(c)[0] == "task"]
    main_metrics = {r["task"]: r["main_metric"] for r in results}
    published_rows = load_published() if published else []
    reported = on_main_metric(published_rows, main_metrics)
    colours = _model_colours(models)

    sections = [
        _leaderboard_section(table, reported, main_metrics, by_model_task),
        _scores_section(tasks, models, by_model_task, reported, colours),
        _per_class_section(task, tasks, models, by_model_task, colours),
        _caption_samples_section(tasks, models, by_model_task),
    ]
    if published:
        sections.append(_published_section(published_rows, main_metrics))
    sections.append(_provenance_section(models, results))
    template = Template(resources.files("clapbench.results").joinpath("report_template.html").read_text(encoding="utf-8"))
    subtitle = (
        f"{len(models)} model(s), {len(tasks)} task(s), {len(results)} result file(s) from <code>{_e(str(results_dir))}</code>; "
        f"built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by clapbench {_e(clapbench.__version__)}"
    )
    return template.substitute(title="clapbench report", version=_e(clapbench.__version__), subtitle=subtitle, body="\n".join(sections))


# --- leaderboard ---------------------------------------------------------------------------------


def _leaderboard_section(table: pd.DataFrame, reported: list[PublishedNumber], main_metrics: dict[str, str], runs: dict) -> str:
    shown = [c for c in table.columns if column_kind(c)[0] in ("model", "task", "domain-mean", "mean")]
    # Header: a row of domain groups over a row of their tasks (and the domain's mean); a domain's columns are adjacent.
    top, bottom = [], []
    width = Counter(column_kind(c)[1] for c in shown if column_kind(c)[1] is not None)
    for i, col in enumerate(shown):
        kind, domain, label = column_kind(col)
        attrs = f'class="sortable{" mean" if "mean" in kind else ""}" data-col="{i}" data-key="{_e(col)}" data-type="{"text" if kind == "model" else "number"}"'
        if domain is None:
            top.append(f'<th rowspan="2" {attrs}>{_e(label)}</th>')
        else:
            if not bottom or column_kind(shown[i - 1])[1] != domain:
                top.append(f'<th class="group" colspan="{width[domain]}">{_e(domain)}</th>')
            title = "mean over this domain's tasks" if kind == "domain-mean" else f"{label}: {main_metrics.get(label, '')}"
            bottom.append(f'<th {attrs} title="{_e(title)}">{_e(label)}</th>')
    head = "".join(top)

    measured = []
    for _, row in table.iterrows():
        cells = []
        for col in shown:
            kind, domain, _ = column_kind(col)
            if kind == "model":
                cells.append(f'<th scope="row" data-value="{_e(row[col])}">{_e(row[col])}</th>')
                continue
            complete = row[f"{domain}/complete"] if kind == "domain-mean" else row["complete"] if kind == "mean" else True
            run = runs.get((row["model"], column_kind(col)[2])) if kind == "task" else None
            cell = _score_cell(row[col], bool(complete), "mean" in kind, run)
            said = row.get(col + ":marks", "") if "mean" in kind else ""
            if said and isinstance(said, str):  # a mean over subset or contaminated results says so
                letters = ("S" if "subset" in said else "") + ("C" if "contaminated" in said else "")
                cell = cell.replace("</td>", f'<span class="flag" title="{_e(said)}">{letters}</span></td>', 1)
            cells.append(cell)
        measured.append(f"<tr>{''.join(cells)}</tr>")

    reported_rows = []
    by_source: dict[tuple[str, str], dict[str, PublishedNumber]] = {}
    for p in reported:
        by_source.setdefault((p.model, p.kind), {})[p.task] = p
    for (model, kind), numbers in by_source.items():
        cells = [f'<th scope="row" data-value="{_e(model)}">{_e(model)}<span class="badge {kind}">{kind}</span></th>']
        for col in shown[1:]:
            ckind, _, label = column_kind(col)
            p = numbers.get(label) if ckind == "task" else None
            if ckind != "task":
                cells.append('<td class="num mean" data-value="" title="reported numbers are not averaged: they come from other protocols">—</td>')
            elif p is None:
                cells.append('<td class="num" data-value="">—</td>')
            else:
                title = p.source + (f" ({p.note})" if p.note else "")
                flag = f'<span class="flag" title="{_e(p.contamination)}">contaminated</span>' if getattr(p, "contamination", "") else ""
                cells.append(f'<td class="num" data-value="{p.value!r}" title="{_e(title)}">{100 * p.value:.2f}{flag}</td>')
        reported_rows.append(f"<tr>{''.join(cells)}</tr>")

    reported_body = f'<tbody class="reported">{"".join(reported_rows)}</tbody>' if reported_rows else ""
    legend = (
        "Scores are each task's main metric, in percent. Click a column header to sort. "
        "A mean is the plain mean over the tasks it covers; <span class=\"flag\">*</span> marks a mean that "
        "is incomplete (the model lacks a task it should cover), and <span class=\"warn\">missing</span> a task the model has no result for. "
        "Under each score: its 95% bootstrap interval; hover a score for its item count and folds. "
        "<span class=\"flag\">S</span> marks a subset: fewer items or classes than the official data (--limit, --folds, a partial "
        "or toy copy; hover for the counts and why); <span class=\"flag\">C</span> a result on items the model was trained on "
        "(contaminated). A mean over such results carries the same letter."
    )
    if reported_rows:
        legend += (
            " Shaded rows marked <span class=\"badge\">reported</span> or <span class=\"badge reproduction\">reproduction</span> "
            "are published numbers (results/published.csv; hover a number for its source), not measured here: "
            "they are sorted among themselves and never enter a mean."
        )
    return (
        '<h2 id="leaderboard-title">Leaderboard</h2>\n<div class="scroll"><table id="leaderboard">'
        f"<thead><tr>{head}</tr><tr>{''.join(bottom)}</tr></thead>"
        f'<tbody class="measured">{"".join(measured)}</tbody>{reported_body}</table></div>'
        f'<p class="note">{legend}</p>'
    )


def _score_cell(value: Any, complete: bool, is_mean: bool, run: dict | None = None) -> str:
    cls = "num mean" if is_mean else "num"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f'<td class="{cls} missing" data-value="">missing</td>'
    text = f"{100 * float(value):.2f}"
    if not complete:
        return f'<td class="{cls} incomplete" data-value="{float(value)!r}" title="incomplete: covers only the tasks this model has">{text}<span class="flag">*</span></td>'
    if run is None:
        return f'<td class="{cls}" data-value="{float(value)!r}">{text}</td>'
    # a task's cell: its interval beside the score (printed pages have no hover), items and folds on hover
    lo, hi = _ci(run)
    folds = run.get("folds") or []
    title = f"95% CI [{100 * lo:.2f}, {100 * hi:.2f}]; {run.get('n_items', '?')} items" + (f"; folds {', '.join(map(str, folds))}" if folds else "")
    mark = ""
    if run.get("marks"):
        title += f"; {run['marks']}" + (f" ({'; '.join(run['subset_reasons'])})" if run.get("subset_reasons") else "")
        letters = ("S" if "subset" in run["marks"] else "") + ("C" if "contaminated" in run["marks"] else "")
        mark = f'<span class="flag" title="{_e(run["marks"])}">{letters}</span>'
    return (f'<td class="{cls}" data-value="{float(value)!r}" title="{_e(title)}">{text}{mark}'
            f'<span class="cell-ci">{100 * lo:.1f}–{100 * hi:.1f}</span></td>')


# --- per-task scores -----------------------------------------------------------------------------


def _scores_section(tasks: list[str], models: list[str], runs: dict, reported: list[PublishedNumber], colours: dict) -> str:
    cards = []
    for n, task in enumerate(tasks):
        have = [(m, runs[(m, task)]) for m in models if (m, task) in runs]
        metric = have[0][1]["main_metric"]
        pubs = [p for p in reported if p.task == task]
        figure = _score_figure(task, metric, have, pubs, colours)
        rows = []
        for m, r in have:
            lo, hi = _ci(r)
            flag = f' <span class="flag" title="{_e("; ".join(r.get("subset_reasons") or []))}">{_e(r["marks"])}</span>' if r.get("marks") else ""
            folds = ", ".join(map(str, r.get("folds") or [])) or "—"
            rows.append(
                f'<tr><th scope="row">{_e(m)}{flag}</th><td class="num">{100 * r["main_score"]:.2f}</td>'
                f'<td class="num ci">[{100 * lo:.2f}, {100 * hi:.2f}]</td><td class="num">{r.get("n_items", "")}</td><td>{_e(folds)}</td></tr>'
            )
        for p in pubs:
            rows.append(f'<tr class="reported"><th scope="row">{_e(p.model)}<span class="badge {p.kind}">{p.kind}</span></th><td class="num">{100 * p.value:.2f}</td><td class="num">—</td><td></td><td></td></tr>')
        cards.append(
            f'<div class="card" id="task-{_e(task)}"><h3>{_e(task)} <span class="meta">{_e(metric)}</span></h3>'
            f"{_svg(figure, f'scores-{n}')}"
            f'<table><thead><tr><th>model</th><th>score</th><th>95% CI</th><th>items</th><th>folds</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
        )
    return (
        '<h2 id="scores">Scores per task</h2>'
        '<p class="note">Bars are main scores (%) with their 95% bootstrap confidence intervals (items resampled); '
        "the dotted line is chance. Hatched bars are published numbers, which carry no interval here.</p>"
        f'<div class="grid">{"".join(cards)}</div>'
    )


def _score_figure(task: str, metric: str, have: list, pubs: list[PublishedNumber], colours: dict):
    from matplotlib.figure import Figure

    labels = [m for m, _ in have] + [f"{p.model} ({p.kind})" for p in pubs]
    fig = Figure(figsize=(5.2, 0.75 + 0.34 * len(labels)))
    ax = fig.add_subplot()
    ypos = np.arange(len(labels))[::-1]
    for y, (m, r) in zip(ypos, have):
        lo, hi = _ci(r)
        s = r["main_score"]
        ax.barh(y, 100 * s, color=colours[m], height=0.7)
        ax.errorbar(100 * s, y, xerr=[[100 * max(s - lo, 0)], [100 * max(hi - s, 0)]], fmt="none", ecolor="#1f2328", capsize=3, lw=1.2)
    for y, p in zip(ypos[len(have):], pubs):
        ax.barh(y, 100 * p.value, color="white", edgecolor="#8250df", hatch="///", height=0.7)
    chance = have[0][1].get("chance")
    if chance is not None:
        ax.axvline(100 * chance, color="#656d76", ls=":", lw=1.2)
    ax.set_yticks(ypos, labels)
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{metric} (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


def _ci(result: dict) -> tuple[float, float]:
    ci = (result.get("ci95") or {}).get(result["main_metric"])
    return (float(ci[0]), float(ci[1])) if ci else (result["main_score"], result["main_score"])


# --- per-class accuracy / AP and the confusion matrix -------------------------------------------


def _per_class_section(task: str | None, tasks: list[str], models: list[str], runs: dict, colours: dict) -> str:
    head = '<h2 id="per-class">Per class</h2>'
    available = {key: path for key, path in ((k, _items_path(r)) for k, r in runs.items()) if path is not None and _is_classification(path)}
    candidates = [t for t in tasks if any((m, t) in available for m in models)]
    if task is None:
        if not candidates:
            return head + '<p class="note">No classification task with per-item files (<code>&lt;task&gt;.items.npz</code>) in these results.</p>'
        # A single-label task first: it has a confusion matrix; a multi-label one shows per-class AP only.
        single = [t for t in candidates if not any(available.get((m, t)) and _is_multilabel(available[(m, t)]) for m in models)]
        task = (single or candidates)[0]
    elif task not in tasks:
        raise ClapbenchError(f"--task {task}: not in the results; tasks found: {', '.join(tasks)}")
    elif task not in candidates:
        raise ClapbenchError(
            f"--task {task}: no per-item file of a classification task ({task}.items.npz) in the results; "
            f"per-class views need one (rerun the task with this clapbench version); tasks that have one: {', '.join(candidates) or 'none'}"
        )
    items, skipped = [], []
    classes: list[str] | None = None
    for m in models:
        if (m, task) not in runs:
            continue
        if (m, task) not in available:
            skipped.append(f"{m} (no per-item file)")
            continue
        ti = _load_task_items(m, available[(m, task)])
        run_classes = list(runs[(m, task)].get("classes") or [])
        classes = run_classes if classes is None else classes
        if run_classes != classes or ti.scores.shape[1] != len(classes):
            skipped.append(f"{m} (other class list)")
            continue
        items.append(ti)
    multilabel = items[0].multilabel
    classes = _display_names(runs[(items[0].model, task)], classes)
    values = pd.DataFrame({ti.model: (per_class_ap(ti.y, ti.scores) if multilabel else per_class_accuracy(ti.y, ti.scores)) for ti in items}, index=classes)
    what = "average precision" if multilabel else "accuracy"
    # The top model: the best main score on the task; a tie goes to the model ranked higher on the leaderboard.
    top_items = max(items, key=lambda ti: (runs[(ti.model, task)]["main_score"], -models.index(ti.model)))
    top = top_items.model
    counts = (top_items.y.sum(axis=0) if multilabel else np.bincount(top_items.y, minlength=len(classes))).astype(int)
    same_items = all(np.array_equal(np.sort(ti.ids), np.sort(top_items.ids)) for ti in items)

    out = [head, f'<p class="note">Task <b>{_e(task)}</b> ({len(classes)} classes; choose another with <code>--task</code>). '
           f"Per-class {what} (%) from the per-item scores of each model"
           + (" (classes without a positive clip have no AP)." if multilabel else " (the share of a class's clips whose top class is right).")
           + (f" Left out: {_e(', '.join(skipped))}." if skipped else "")
           + ("" if same_items else f' <span class="warn">The models scored different clips</span> (folds or --limit differ): clip counts are those of {_e(top)}.')
           + "</p>"]
    plotted = values
    if len(classes) > MAX_CLASSES_PLOTTED:
        order = values[top].sort_values(na_position="first").index
        half = MAX_CLASSES_PLOTTED // 2
        plotted = values.loc[list(order[:half]) + list(order[-half:])]
        out.append(f'<p class="note">The chart shows {MAX_CLASSES_PLOTTED} of {len(classes)} classes: the {half} worst and {half} best of {_e(top)}; the table below has all.</p>')
    out.append(f'<div class="figure">{_svg(_per_class_figure(plotted, what, colours), "per-class")}</div>')
    header = "".join(f"<th>{_e(ti.model)}</th>" for ti in items)
    rows = "".join(
        f"<tr><th scope=\"row\">{_e(c)}</th><td class=\"num\">{counts[i]}</td>"
        + "".join(f'<td class="num">{"—" if np.isnan(v) else f"{100 * v:.2f}"}</td>' for v in values.iloc[i])
        + "</tr>"
        for i, c in enumerate(classes)
    )
    out.append(
        f"<details><summary>per-class {what}, all {len(classes)} classes</summary>"
        f'<table id="per-class-table"><thead><tr><th>class</th><th>{"positives" if multilabel else "clips"}</th>{header}</tr></thead><tbody>{rows}</tbody></table></details>'
    )
    if multilabel:
        out.append('<p class="note">A multi-label task has no confusion matrix: per-class AP is shown instead.</p>')
    else:
        ti = next(t for t in items if t.model == top)
        out.append(
            f'<h3 id="confusion">Confusion matrix of {_e(top)}, the top model on {_e(task)}</h3>'
            '<p class="note">Rows are true classes, columns the top-scoring class; each row is normalised to its clips.</p>'
            f'<div class="figure">{_svg(_confusion_figure(ti, classes), "confusion")}</div>'
        )
    return "\n".join(out)


def per_class_accuracy(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per class, the share of its clips whose top-scoring class is right (NaN for a class with no clip)."""
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(y, scores.argmax(axis=1), labels=np.arange(scores.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cm.sum(axis=1) > 0, np.diag(cm) / cm.sum(axis=1), np.nan)


def per_class_ap(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per class, average precision of its scores over the clips (NaN for a class with no positive)."""
    from sklearn.metrics import average_precision_score

    return np.array([average_precision_score(y[:, c], scores[:, c]) if y[:, c].any() else np.nan for c in range(scores.shape[1])])


def _per_class_figure(values: pd.DataFrame, what: str, colours: dict):
    from matplotlib.figure import Figure

    n_classes, n_models = values.shape
    fig = Figure(figsize=(8.5, 0.9 + n_classes * (0.1 + 0.14 * n_models)))
    ax = fig.add_subplot()
    height = 0.8 / n_models
    base = np.arange(n_classes)[::-1]
    for k, model in enumerate(values.columns):
        v = 100 * values[model].to_numpy(dtype=float)
        ys = base + 0.4 - height * (k + 0.5)
        ax.barh(ys, np.nan_to_num(v), height=height, color=colours[model], label=model)
        for y in ys[np.isnan(v)]:  # undefined (no clip, or no positive), not zero
            ax.text(1, y, "n/a", va="center", fontsize="x-small", color="#656d76")
    ax.set_yticks(base, [str(c) for c in values.index])
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, n_classes - 0.4)
    ax.set_xlabel(f"{what} (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(n_models, 4), frameon=False, fontsize="small")
    fig.tight_layout()
    return fig


def _confusion_figure(ti: TaskItems, classes: list[str]):
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    n = len(classes)
    cm = confusion_matrix(ti.y, ti.scores.argmax(axis=1), labels=np.arange(n), normalize="true")
    side = min(14.0, max(4.5, 0.42 * n + 2.5))
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.add_subplot()
    labels = classes if n <= MAX_CLASSES_LABELLED else None
    ConfusionMatrixDisplay(cm, display_labels=labels).plot(
        ax=ax, include_values=n <= 15, values_format=".2f", cmap="Blues", xticks_rotation="vertical", colorbar=True
    )
    if labels is None:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel("predicted (top-scoring) class")
    ax.set_ylabel("true class")
    fig.tight_layout()
    return fig


def _items_path(result: dict) -> Path | None:
    name = result.get("items_file")
    path = Path(result["_file"]).parent / name if name else None
    return path if path is not None and path.is_file() else None


def _is_classification(path: Path) -> bool:
    data = read_npz(path)
    return "kind" in data and str(data["kind"]) == "classification" and {"y", "scores"} <= set(data)


def _is_multilabel(path: Path) -> bool:
    return _load_task_items("", path).multilabel


def _load_task_items(model: str, path: Path) -> TaskItems:
    data = read_npz(path)
    y = data["y"]
    multilabel = bool(data["multilabel"]) if "multilabel" in data else y.ndim == 2
    return TaskItems(model, data["ids"], y, data["scores"].astype(np.float64), multilabel)


# --- published numbers ---------------------------------------------------------------------------


def _display_names(run: dict, classes: list[str]) -> list[str]:
    """Classes as the prompts name them ('church organ', not 'church_organ'), when the run recorded them."""
    names = (run.get("protocol") or {}).get("class_prompt_names") or []
    return list(names) if len(names) == len(classes) and len(set(names)) == len(names) else classes


def _published_section(rows: list[PublishedNumber], main_metrics: dict[str, str]) -> str:
    shown = [p for p in rows if p.task in main_metrics]
    if not shown:
        return '<h2 id="published">Published numbers</h2><p class="note">results/published.csv has no number for these tasks.</p>'
    matched = {(p.model, p.kind, p.task, p.value) for p in on_main_metric(shown, main_metrics)}
    body = "".join(
        f'<tr class="reported"><td>{_e(p.model)}<span class="badge {p.kind}">{p.kind}</span></td><td>{_e(p.task)}</td><td>{_e(p.metric)}</td>'
        f'<td class="num">{100 * p.value:.2f}</td><td>{"yes" if (p.model, p.kind, p.task, p.value) in matched else "no (not the main metric)"}</td>'
        f"<td>{_e(p.source)}</td><td>{_e(p.note)}</td></tr>"
        for p in shown
    )
    return (
        '<h2 id="published">Published numbers</h2>'
        '<p class="note">Every number results/published.csv states for the tasks in these results, as stated. '
        "Those that report the task's main metric appear in the leaderboard and charts; "
        "a paper's plain “F1” is shown against an F1 main metric, with a note.</p>"
        '<div class="scroll"><table id="published-table"><thead><tr><th>model</th><th>task</th><th>metric</th><th>value (%)</th>'
        f"<th>in leaderboard</th><th>source</th><th>note</th></tr></thead><tbody>{body}</tbody></table></div>"
    )


# --- captioning: a sample of clips with their captions --------------------------------------------


def _caption_samples_section(tasks: list[str], models: list[str], runs: dict) -> str:
    """Per captioning task, the result's sampled clips: what each model wrote beside the references."""
    blocks = []
    for task in tasks:
        have = [(m, runs[(m, task)]) for m in models if (m, task) in runs and runs[(m, task)].get("caption_samples")]
        if not have:
            continue
        clips = list(dict.fromkeys(s["clip"] for _, r in have for s in r["caption_samples"]))
        by_clip = {(m, s["clip"]): s for m, r in have for s in r["caption_samples"]}
        rows = []
        for clip in clips:
            refs = next(by_clip[(m, clip)]["references"] for m, _ in have if (m, clip) in by_clip)
            cells = "".join(
                f'<td>{_e(by_clip[(m, clip)]["generated"])} <span class="meta">CIDEr-D {by_clip[(m, clip)]["CIDEr-D"]:.3f}</span></td>'
                if (m, clip) in by_clip else "<td></td>" for m, _ in have
            )
            rows.append(f"<tr><td><code>{_e(clip)}</code></td>{cells}<td>{'<br>'.join(_e(c) for c in refs)}</td></tr>")
        head = "".join(f"<th>{_e(m)}</th>" for m, _ in have)
        blocks.append(
            f'<h3>{_e(task)}</h3><div class="scroll"><table class="captions"><thead><tr><th>clip</th>{head}<th>references</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>'
        )
    if not blocks:
        return ""
    return ('<h2 id="captions">Captions</h2><p class="note">A seeded sample of clips per captioning task: each model\'s '
            "generated caption (with its clip's CIDEr-D) and the references.</p>" + "".join(blocks))


# --- provenance ----------------------------------------------------------------------------------


def provenance(result: dict[str, Any]) -> dict[str, str]:
    """What produced a result, flattened to labelled strings (in display order)."""
    protocol = dict(result.get("protocol") or {})
    model = result["model"] if isinstance(result["model"], dict) else {"id": str(result["model"])}
    boot = result.get("bootstrap") or {}
    shown = {
        "checkpoint": model.get("path"),
        "model kind": model.get("kind"),
        "checkpoint sha256": result.get("model_sha"),
        "task version": result.get("task_version"),
        "sample rate (Hz)": protocol.pop("sample_rate", None),
        "clip length (s)": protocol.pop("clip_seconds", None),
        "padding": protocol.pop("padding", None),
        "truncation": protocol.pop("truncation", None),
        "templates": " | ".join(protocol.pop("templates", None) or []) or None,
        "template sha": protocol.pop("template_sha", None),
        "device": result.get("device"),
        "dtype": result.get("dtype"),
        "batch size": result.get("batch_size"),
        "seed": result.get("seed"),
        "bootstrap": f"{boot['resamples']} resamples, seed {boot['seed']}" if "resamples" in boot else None,
        "items": result.get("n_items"),
        "limited to": result.get("limit"),
        "marks": result.get("marks") or None,
        "data root": result.get("data_root"),
        "versions": ", ".join(f"{k} {v}" for k, v in (result.get("versions") or {}).items()) or None,
        "created": result.get("created"),
    }
    protocol.pop("class_prompt_names", None)  # one per class: long, and fixed by the task version
    shown["other protocol"] = ", ".join(f"{k}={v}" for k, v in protocol.items()) or None
    return {k: str(v) for k, v in shown.items() if v is not None}


def _provenance_section(models: list[str], results: list[dict]) -> str:
    blocks = []
    for m in models:
        runs = sorted((r for r in results if _model_id(r) == m), key=lambda r: r["task"])
        fields = [provenance(r) for r in runs]
        keys = list(dict.fromkeys(k for f in fields for k in f))
        always_per_task = ("task version", "items", "created")
        same = [k for k in keys if k not in always_per_task and len({f.get(k) for f in fields}) == 1]
        varying = [k for k in keys if k not in same]
        shas = sorted({f.get("checkpoint sha256", "") for f in fields})
        warn = '<p class="warn">These results come from different checkpoints (sha256 differs between tasks).</p>' if len(shas) > 1 else ""
        common = "".join(f'<tr><th scope="row">{_e(k)}</th><td class="mono">{_e(fields[0][k])}</td></tr>' for k in same)
        per_task = "".join(
            f'<tr><th scope="row">{_e(r["task"])}</th>' + "".join(f'<td class="mono">{_e(f.get(k, ""))}</td>' for k in varying) + "</tr>"
            for r, f in zip(runs, fields)
        )
        sha_text = ", ".join(_short_sha(s) for s in shas if s) or "unknown"
        blocks.append(
            f'<details class="provenance" data-model="{_e(m)}"><summary>{_e(m)} <span class="meta">sha256 {_e(sha_text)} · {len(runs)} task(s)</span></summary>'
            f"{warn}<h3>Same for every task</h3><table><tbody>{common}</tbody></table>"
            f'<h3>Per task</h3><div class="scroll"><table><thead><tr><th>task</th>{"".join(f"<th>{_e(k)}</th>" for k in varying)}</tr></thead>'
            f"<tbody>{per_task}</tbody></table></div></details>"
        )
    return '<h2 id="provenance">Provenance</h2><p class="note">What produced each result: checkpoint, protocol, software. Click a model to open.</p>' + "".join(blocks)


# --- helpers -------------------------------------------------------------------------------------


def _short_sha(sha: str) -> str:
    return sha[:12] if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha) else sha


def _run_view(record: ResultRecord) -> dict[str, Any]:
    """A result as the report's sections read it: the record's fields, its marks, and where it was read from."""
    view = record.model_dump(mode="json")
    view["_file"] = record.file
    view["marks"] = record_marks(record)
    view["subset_reasons"] = list(record.subset.reasons) if record.subset is not None else []
    return view


def _model_id(result: dict) -> str:
    return result["model"]["id"] if isinstance(result["model"], dict) else str(result["model"])


def _model_colours(models: list[str]) -> dict[str, str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab10" if len(models) <= 10 else "tab20"]
    return {m: to_hex(cmap(i % cmap.N)) for i, m in enumerate(models)}


def _svg(fig, salt: str) -> str:
    """The figure as inline SVG: text kept as text, ids unique per figure, no timestamp."""
    import matplotlib

    buf = io.StringIO()
    # The salt seeds the SVG's element ids: distinct per figure so several SVGs share one page, fixed so output is reproducible.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"clapbench-{salt}"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
