"""The `clapbench train` command (registered on the CLI group in clapbench/cli.py)."""

from __future__ import annotations

from pathlib import Path

import click

from clapbench.errors import ClapbenchError


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def load_examples(pairs: str, data: dict[str, str], data_root: str | None, folds: list[str] | None, templates: list[str],
                  caption_model: str | None, temporal_stage: str | None, temporal_pairs: int, clip_seconds: float,
                  seed: int, tasks_dirs: list[str], device: str = "cpu"):
    """The training examples named by --pairs: a pair-list file, or a registered task's dataset."""
    from clapbench.registry import registry
    from clapbench.runner import RunOptions, load_task_data
    from clapbench.training.examples import examples_from_task, read_pair_file

    reg = registry(tasks_dirs)
    if pairs not in reg:
        if temporal_stage:
            raise ClapbenchError(f"--temporal-stage needs --pairs to name a labelled task (e.g. esc50), not the file '{pairs}'")
        if not Path(pairs).exists():
            raise ClapbenchError(f"--pairs {pairs}: neither a file nor a known task; expected a CSV/JSONL of (audio, caption) or one of: {', '.join(sorted(reg))}")
        return read_pair_file(pairs)
    spec = reg[pairs]
    if spec.source is not None or spec.eval_type not in ("zero-shot-classification", "retrieval"):
        raise ClapbenchError(f"--pairs {pairs}: task type '{spec.eval_type}' has no clips with labels or captions to train on")
    dataset = load_task_data(spec, RunOptions(output=Path("."), data=data, data_root=data_root, folds=folds))
    if temporal_stage:
        from clapbench.training.temporal import temporal_examples

        return temporal_examples(spec, dataset, temporal_stage, temporal_pairs, seed, clip_seconds)
    writer = None
    if caption_model:
        from clapbench.training.augment import CaptionWriter

        writer = CaptionWriter(caption_model, device="cpu" if device == "auto" else device)
    from clapbench.training.augment import KEYWORD_TEMPLATES

    return examples_from_task(spec, dataset, templates or list(dict.fromkeys([*spec.templates, *KEYWORD_TEMPLATES])), writer)


@click.command("train")
@click.option("--init", "init", type=click.Path(file_okay=False), help="Start from this HF ClapModel folder.")
@click.option("--config", "config", type=click.Choice(["tiny", "base"]), help="Start from a fresh model: tiny (CPU-sized, 2 s clips) or base (HTSAT-tiny + RoBERTa-base size, 10 s).")
@click.option("--fusion", is_flag=True, help="Feature fusion for variable-length audio (HF ClapModel enable_fusion; the 'fusion' clip policy).")
@click.option("--pairs", required=True, help="CSV/JSONL of (audio, caption) pairs (paths relative to the file), or a task name (captions from its captions or labels).")
@click.option("--data", "data", multiple=True, metavar="NAME=PATH", help="Dataset folder of a task, for --pairs TASK and --eval-tasks (repeatable).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Folder holding one DIR/<task-name>/ per task.")
@click.option("--folds", help="Folds of the --pairs task to train on (e.g. 1,2,3,4).")
@click.option("--template", "templates", multiple=True, help="Caption templates for labels ('{}' marks the keywords; default: the task's and clapbench's keyword-to-caption set).")
@click.option("--caption-model", type=click.Path(file_okay=False, exists=True), help="Local text-generation model folder that writes one more caption per label set.")
@click.option("--temporal-stage", type=click.Choice(["A", "B"]), help="TeminAL post-training items from the --pairs task: A single vs mixed sounds, B order.")
@click.option("--temporal-pairs", default=2000, show_default=True, type=click.IntRange(min=1), help="Pairs of clips the temporal items are built from.")
@click.option("--clip-seconds", default=5.0, show_default=True, type=click.FloatRange(min=0.1), help="Length each clip of a temporal item is cut or padded to.")
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Folder for the trained model, checkpoints, logs and evaluations.")
@click.option("--steps", type=click.IntRange(min=1), help="Optimizer steps (default: from --epochs).")
@click.option("--epochs", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=2), help="Contrastive batch over all processes.")
@click.option("--accumulate", default=1, show_default=True, type=click.IntRange(min=1), help="Micro-batches per optimizer step.")
@click.option("--lr", default=1e-4, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--weight-decay", default=0.01, show_default=True, type=click.FloatRange(min=0))
@click.option("--warmup-steps", type=click.IntRange(min=1), help="Linear warm-up steps (default: 5% of the steps).")
@click.option("--max-grad-norm", default=1.0, show_default=True, type=click.FloatRange(min=0), help="Gradient clipping (0: none).")
@click.option("--precision", default="auto", show_default=True, type=click.Choice(["auto", "fp32", "bf16"]), help="auto: bf16 autocast on CUDA, fp32 on CPU.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda (under torchrun: each process its LOCAL_RANK GPU).")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0), help="Loader processes per training process.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--log-every", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--checkpoint-every", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--keep-checkpoints", default=2, show_default=True, type=click.IntRange(min=0), help="Newest checkpoints kept (0: all).")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in OUTPUT/checkpoints.")
@click.option("--eval-tasks", help="Tasks to evaluate at the start, every --eval-every steps and at the end (results in OUTPUT/eval/step-N/).")
@click.option("--eval-every", type=click.IntRange(min=1))
@click.option("--eval-folds", help="Folds of the evaluation tasks (e.g. the held-out 5).")
@click.option("--bootstrap", "n_resamples", default=1000, show_default=True, type=click.IntRange(min=0))
@click.option("--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(file_okay=False, exists=True))
def train(init, config, fusion, pairs, data, data_root, folds, templates, caption_model, temporal_stage, temporal_pairs, clip_seconds,
          output, steps, epochs, batch_size, accumulate, lr, weight_decay, warmup_steps, max_grad_norm, precision, device, workers, seed,
          log_every, checkpoint_every, keep_checkpoints, resume, eval_tasks, eval_every, eval_folds, n_resamples, tasks_dirs):
    """Train a CLAP contrastively on (audio, caption) pairs; run under torchrun for several GPUs."""
    from rich.console import Console

    from clapbench.registry import registry, resolve_tasks
    from clapbench.training.trainer import TrainConfig
    from clapbench.training.trainer import train as run_training

    if bool(init) == bool(config) and not resume:
        raise click.UsageError("pass exactly one of --init CKPT and --config tiny|base")
    if templates and not all("{}" in t for t in templates):
        raise click.BadParameter("each template must contain '{}' where the keywords go", param_hint="--template")
    from clapbench.paths import check_creatable_dir
    from clapbench.run_options import parse_data_options  # the same --data NAME=PATH parsing as `clapbench run`

    data_map = parse_data_options(data)
    check_creatable_dir(output, "--output")  # before the examples are read and the model is built
    specs = resolve_tasks(eval_tasks, registry(list(tasks_dirs))) if eval_tasks else []
    examples = load_examples(pairs, data_map, data_root, _csv(folds), list(templates), caption_model, temporal_stage,
                             temporal_pairs, clip_seconds, seed, list(tasks_dirs), device)
    cfg = TrainConfig(
        output=Path(output), init=init, config=config, fusion=fusion, steps=steps, epochs=epochs, batch_size=batch_size,
        accumulate=accumulate, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, max_grad_norm=max_grad_norm,
        precision=precision, device=device, workers=workers, seed=seed, log_every=log_every, checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints, resume=resume, eval_tasks=specs, eval_every=eval_every, eval_data=data_map,
        eval_data_root=data_root, eval_folds=_csv(eval_folds), eval_resamples=n_resamples,
    )
    run_training(cfg, examples, Console())
