"""The Python API: what the CLI commands call, for notebooks and scripts.

    import clapbench
    results = clapbench.evaluate(model, ["esc50"], data={"esc50": "/data/ESC-50-master"})
    results.to_pandas()

``model`` is anything `clapbench run --model` takes (a checkpoint path, ``package.module:factory``) or an
object with the model contract (``sample_rate``, ``embed_audio``, ``embed_text``), e.g. a torch module
built in the notebook. With ``output=None`` nothing is written (the embedding cache aside, for models
that name their weights' hash); ``Results.save(folder)`` writes what `clapbench run` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from rich.console import Console
from rich.markup import escape

from clapbench.errors import ClapbenchError
from clapbench.task_listing import split_names as _names
from clapbench.task_listing import task_records

if TYPE_CHECKING:  # pandas is imported by the functions that return tables: a warm rerun never needs it
    import pandas as pd

__all__ = ["compare", "evaluate", "leaderboard", "tasks"]


def _override_prompts(specs: list, prompts: dict[str, str]) -> list:
    """Apply each KEY=TEXT prompt to every chosen task whose task file names prompt KEY."""
    for key in prompts:
        if not any(key in s.prompts for s in specs):
            known = sorted({k for s in specs for k in s.prompts})
            raise ClapbenchError(f"--prompt {key}: no chosen task has a prompt '{key}'; their prompts: "
                                 f"{', '.join(known) or 'none (use --template for class templates)'}")
    return [s.with_prompts({k: v for k, v in prompts.items() if k in s.prompts}) for s in specs]


def resolve_specs(tasks, tasks_dir=None, templates=None, prompts=None, source: str | None = None, pairs=None):
    """(registry, the chosen task specs with --template, --prompt and --source applied)."""
    from clapbench.registry import is_template, registry, resolve_tasks

    reg = registry(_names(tasks_dir) if tasks_dir else None)
    specs = resolve_tasks(",".join(_names(tasks)), reg)
    templates = list(templates or [])
    bad = [t for t in templates if not is_template(t)]
    if bad:
        raise ClapbenchError(f"--template '{bad[0]}': expected exactly one '{{}}' where the class name goes (write other braces as '{{{{' and '}}}}')")
    if templates:
        specs = [s.with_templates(templates) for s in specs]
    if prompts:
        specs = _override_prompts(specs, dict(prompts))
    derived = [s for s in specs if s.source is not None]
    if (source or pairs) and not derived:
        raise ClapbenchError(f"{'--source' if source else '--pairs'}: applies only to tasks built from a source task (zste, order-pairs); none was chosen")
    if source:
        if source not in reg:
            raise ClapbenchError(f"--source '{source}' is not a known task; see `clapbench tasks`")
        specs = [s.with_source(reg[source]) if s.source is not None else s for s in specs]
    if pairs and not Path(pairs).is_file():
        raise ClapbenchError(f"--pairs {pairs}: file not found; expected a pair list (<task>.pairs.csv)")
    return reg, specs


def evaluate(
    model: Any,
    tasks: str | Iterable[str],
    *,
    data: dict[str, str] | None = None,
    data_root: str | Path | None = None,
    output: str | Path | None = None,
    model_id: str | None = None,
    evaluations: str | Iterable[str] = "zero-shot",
    folds: str | Iterable[str] | None = None,
    limit: int | None = None,
    templates: Iterable[str] | None = None,
    prompts: dict[str, str] | None = None,
    source: str | None = None,
    pairs: str | Path | None = None,
    batch_size: int = 32,
    workers: int | None = None,
    seed: int = 0,
    bootstrap: int = 1000,
    probe_seed: int = 0,
    save_predictions: bool = False,
    overwrite: bool = False,
    keep_going: bool = False,
    tasks_dir: str | Iterable[str] | None = None,
    cache_dir: str | None = None,
    no_cache: bool = False,
    device: str = "auto",
    dtype: str = "float32",
    family: str | None = None,
    protocol: str = "native",
    tokenizer: str | None = None,
    decoding=None,
    front_end: str = "auto",
    attention: str = "auto",
    console: Console | None = None,
    invocation: dict[str, Any] | None = None,
):
    """Evaluate ``model`` on ``tasks`` (names or groups) and return a ``Results``; see the module doc.

    Every problem that can be found before the model loads (data, --data names, conflicting results on disk)
    is raised at once as a ClapbenchError; with ``keep_going`` the tasks that can run do, and
    ``Results.failures`` says what did not."""
    from clapbench.models import (ModelIdentity, check_hf_options, load_model, model_identity, resolve_device, worker_modules_of,
                                  wrap_model)
    from clapbench.models.plugin import check_contract
    from clapbench.results.run_results import Results, RunFailure
    from clapbench.run_options import EVALUATION_CHOICES, RunOptions, model_request_fields
    from clapbench.runner import execute_plan, plan_run

    from clapbench import distributed

    console = console or Console()
    shard = distributed.active()  # under torchrun: join the process group, one device per rank, rank 0 speaks and writes
    if shard is not None:
        device = distributed.device_for(device, shard)
        if not shard.writer:
            console = Console(quiet=True)
    chosen = list(dict.fromkeys(_names(evaluations)))
    unknown = [e for e in chosen if e not in EVALUATION_CHOICES]
    if unknown or not chosen:
        raise ClapbenchError(f"--eval '{','.join(_names(evaluations))}': expected zero-shot, linear-probe or zero-shot,linear-probe")
    reg, specs = resolve_specs(tasks, tasks_dir, templates, prompts, source, pairs)
    if workers is None:
        from clapbench.audio.loader import default_workers

        workers = default_workers(resolve_device(device))
    options = RunOptions(
        output=Path(output) if output is not None else None,
        data={str(k): str(v) for k, v in (data or {}).items()},
        data_root=str(data_root) if data_root is not None else None,
        folds=_names(folds) or None,
        limit=limit,
        batch_size=batch_size,
        workers=workers,
        seed=seed,
        n_resamples=bootstrap,
        save_predictions=save_predictions,
        overwrite=overwrite,
        pairs=Path(pairs) if pairs else None,
        evaluations=chosen,
        probe_seed=probe_seed,
        cache_dir=cache_dir,
        no_cache=no_cache,
        templates_given=bool(templates),
        keep_going=keep_going,
        invocation=invocation,
        model_request=model_request_fields(device, dtype, family, protocol, tokenizer, decoding, front_end, attention),
        write=shard is None or shard.writer,
        world_size=shard.world if shard is not None else 1,
    )
    if isinstance(model, (str, Path)):
        spec = str(model)
        identity = model_identity(spec, model_id)

        from clapbench.cache import default_cache_dir

        # With the cache on, a checkpoint's manifest is remembered beside the embeddings: a fully cached rerun
        # then never builds the network (clapbench.models.manifest).
        memo_dir = None if no_cache else Path(cache_dir) if cache_dir else default_cache_dir()

        def start_workers_early() -> None:
            # The workers' fork server imports on the other core while this process loads the weights.
            early = worker_modules_of(spec, family, front_end)
            if early is not None and workers > 0:
                from clapbench.audio.loader import start_worker_server

                start_worker_server(modules=early)

        def load():
            loaded = load_model(spec, device=device, dtype=dtype, seed=seed, model_id=model_id, family=family, protocol=protocol,
                                tokenizer=tokenizer, decoding=decoding, sha256=identity.sha256, memo_dir=memo_dir, front_end=front_end,
                                attention=attention, before_build=start_workers_early)
            _say_model(console, loaded)
            return loaded
    else:
        kind = type(model)
        check_hf_options(f"<object {kind.__module__}.{kind.__qualname__}>", front_end, attention, hf_clap_folder=False)
        check_contract(model, f"the model object ({kind.__module__}.{kind.__qualname__})")
        loaded = wrap_model(model, model_id or kind.__name__, f"<object {kind.__module__}.{kind.__qualname__}>", "object",
                            resolve_device(device), dtype, model_id_given=model_id)
        identity = ModelIdentity(loaded.model_id, loaded.sha256, loaded.path)

        def load():
            _say_model(console, loaded)
            return loaded

    plan = plan_run(specs, identity, options, set(reg))
    summary = execute_plan(plan, options, console, load)
    return Results(identity.model_id, summary.records, summary.outcomes, summary.kept,
                   [RunFailure(f.task, f.reason) for f in summary.failures], options.output)


def _say_model(console: Console, loaded) -> None:
    console.print(f"model [bold]{escape(loaded.model_id)}[/] ({loaded.kind}, sha256 {str(loaded.sha256)[:12]}, {loaded.device}, {loaded.dtype})")
    if loaded.model_id_given and loaded.model_id_given != loaded.model_id:
        console.print(f"model id {escape(loaded.model_id_given)}: results go to the folder {loaded.model_id} (one folder name; the id as given is recorded)")


def leaderboard(folders: str | Path | Iterable[str | Path], tasks: str | Iterable[str] | None = None, evaluation: str = "zero-shot",
                published: bool = False, tasks_dir: str | Iterable[str] | None = None) -> pd.DataFrame:
    """The leaderboard of the results under ``folders``: a row per model, ``<domain>/<task>`` score columns with
    their ``:marks`` companions, means and completeness. ``.attrs["domains"]`` maps each task to its domain."""
    from clapbench.registry import groups, registry
    from clapbench.results.leaderboard import build_leaderboard, with_published
    from clapbench.results.record import load_results

    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    results = load_results([Path(f) for f in folders])
    if not results:
        raise ClapbenchError(f"{', '.join(map(str, folders))}: no result files (<model-id>/<task>.json) found")
    reg = registry(_names(tasks_dir) if tasks_dir else None)
    wanted = None
    if tasks:
        # Group names expand through the registry; other names are taken as given (results of unregistered tasks).
        named = groups(reg)
        wanted = [t for n in _names(tasks) for t in named.get(n, [n])]
    if evaluation not in ("zero-shot", "linear-probe"):
        raise ClapbenchError(f"--eval {evaluation}: expected zero-shot or linear-probe")
    variant = None if evaluation == "zero-shot" else evaluation
    table, domains = build_leaderboard(results, wanted, {name: spec.domain for name, spec in reg.items()}, variant=variant)
    if published:
        if variant is not None:
            raise ClapbenchError("--published holds zero-shot numbers only; drop it or use --eval zero-shot")
        from clapbench.results.published import load_published, on_main_metric

        main_metrics = {name: spec.main_metric for name, spec in reg.items()}
        main_metrics.update({r.task: r.main_metric for r in results if not r.variant})
        table = with_published(table, on_main_metric(load_published(), main_metrics))
    table.attrs["domains"] = domains
    return table


def compare_results(baseline: str | Path, new: str | Path, tasks: str | Iterable[str] | None = None, max_drop: float = 0.01,
                    alpha: float = 0.05, model_id: str | None = None, bootstrap: int = 1000, seed: int = 0) -> list:
    """Per task, a paired bootstrap verdict (``results.compare.TaskComparison``) of ``new`` against ``baseline``."""
    from clapbench.results import compare as cmp

    base_side, new_side = cmp.load_side(baseline, model_id), cmp.load_side(new, model_id)
    return cmp.compare(base_side, new_side, _names(tasks) or None, n_resamples=bootstrap, seed=seed, max_drop=max_drop, alpha=alpha)


def compare(baseline: str | Path, new: str | Path, **options) -> pd.DataFrame:
    """``compare_results`` as a table: task, metric, baseline, new, diff, ci95, p_value, verdict, marks, ..."""
    from dataclasses import asdict

    import pandas as pd

    return pd.DataFrame([asdict(r) for r in compare_results(baseline, new, **options)])




def tasks(domain: str | Iterable[str] | None = None, group: str | Iterable[str] | None = None,
          tasks_dir: str | Iterable[str] | None = None) -> pd.DataFrame:
    """The registered tasks as a table (see ``task_records``)."""
    import pandas as pd

    return pd.DataFrame(task_records(domain, group, tasks_dir))
