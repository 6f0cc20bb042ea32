"""The training loop: AdamW with linear warm-up and cosine decay, bf16 autocast on GPU, gradient
accumulation, DistributedDataParallel under torchrun, checkpoints with every state a resume needs,
and evaluation through clapbench's runner while training.

Output folder (``--output DIR``):
- ``DIR/``: the trained model, a HF ClapModel + ClapProcessor folder (``clapbench run --model DIR``), with
  ``training.json`` (settings, data, figures), ``metrics.jsonl`` and ``loss.png``;
- ``DIR/init/``: the fresh model before training (``--config`` only);
- ``DIR/checkpoints/step-NNNNNN/``: a model folder plus ``trainer_state/`` (optimizer, scheduler, RNG states
  of every rank, step, as JSON and safetensors: no pickle, see state.py) and ``loss.png``;
- ``DIR/eval/step-NNNNNN/<task>.json``: ``clapbench run``'s result files for each evaluated step
  (step 0 is the starting model); ``clapbench leaderboard DIR/eval`` compares the steps.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console

from clapbench.errors import ClapbenchError, DataError, ModelError
from clapbench.training.data import ClipCaptionDataset, epoch_batches, example_groups, rank_loader
from clapbench.training.examples import ExampleSet
from clapbench.training.log import MetricsLog, plot_loss, training_progress
from clapbench.training.loss import contrastive_loss
from clapbench.training.model import ContrastiveClap, build_fresh, clamp_logit_scales, load_for_training
from clapbench.training.state import LEGACY_PICKLE, STATE_JSON, load_trainer_state, rng_state, save_trainer_state, set_rng_state, with_tuples

STATE_FILE = STATE_JSON


@dataclass
class TrainConfig:
    output: Path
    init: str | None = None  # a HF ClapModel folder, or None with ``config``
    config: str | None = None  # "tiny" | "base": a fresh model
    fusion: bool = False
    steps: int | None = None  # optimizer steps; None: from ``epochs``
    epochs: float = 1.0
    batch_size: int = 32  # examples per micro-batch over all ranks: the contrastive batch
    accumulate: int = 1  # micro-batches per optimizer step
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int | None = None  # None: 5% of the steps
    min_lr_ratio: float = 0.0
    max_grad_norm: float = 1.0  # 0: no clipping
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
    device: str = "auto"
    workers: int = 0
    seed: int = 0
    log_every: int = 1
    checkpoint_every: int = 500
    keep_checkpoints: int = 2  # 0: keep all
    resume: bool = False
    cache_features: bool = True
    # evaluation while training (clapbench.runner.run_task on each evaluated step)
    eval_tasks: list = field(default_factory=list)  # TaskSpecs
    eval_every: int | None = None  # None: at the start and the end only
    eval_data: dict[str, str] = field(default_factory=dict)
    eval_data_root: str | None = None
    eval_folds: list[str] | None = None
    eval_batch_size: int = 32
    eval_resamples: int = 1000

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "eval_tasks"}
        out["output"] = str(self.output)
        out["eval_tasks"] = [s.name for s in self.eval_tasks]
        return out


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def setup_distributed(device: str) -> tuple[Dist, torch.device]:
    """Under torchrun (WORLD_SIZE > 1): join the process group, NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
        dev = torch.device("cuda", local) if world > 1 or device == "cuda" else torch.device(device)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, local), dev


def lr_lambda(warmup: int, total: int, min_ratio: float):
    """Linear warm-up from 1/warmup to 1, then cosine decay to ``min_ratio`` at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only; biases, norms and the temperatures are not decayed (as in OpenCLIP)."""
    decay, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 and "logit_scale" not in name else rest).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def latest_checkpoint(output: Path) -> Path | None:
    done = sorted(p for p in (output / "checkpoints").glob("step-*") if (p / STATE_FILE).is_file() and not p.name.endswith(".tmp"))
    return done[-1] if done else None


def _is_training_output(output: Path) -> bool:
    """Whether a folder holds what `clapbench train` writes before its first checkpoint (so --resume may reuse it)."""
    return (output / "checkpoints").is_dir() or (output / "metrics.jsonl").is_file() or (output / "init").is_dir()


class Trainer:
    def __init__(self, cfg: TrainConfig, data: ExampleSet, console: Console | None = None):
        self.cfg = cfg
        self.data = data
        self.dist, self.device = setup_distributed(cfg.device)
        self.console = console or Console()
        if not self.dist.main:
            self.console = Console(quiet=True)
        self.output = Path(cfg.output)
        self.precision = self._precision()

    # ----- set-up -----
    def _precision(self) -> str:
        p = self.cfg.precision
        if p == "auto":
            return "bf16" if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
        if p not in ("fp32", "bf16"):
            raise ClapbenchError(f"--precision {p}: expected auto, fp32 or bf16")
        return p

    def _check_output(self) -> Path | None:
        """Refuse a non-empty output folder unless resuming; with --resume, the checkpoint to resume from.

        A ``step-N.tmp`` folder is a checkpoint whose writer was killed: never resumed from, removed on
        --resume. With no complete checkpoint, --resume starts from the beginning (and says so), which is
        what the refusal of a plain rerun points to: the two messages agree.
        """
        out, ckpts = self.output, self.output / "checkpoints"
        latest = latest_checkpoint(out)
        if self.cfg.resume:
            if latest is None:
                legacy = sorted(ckpts.glob(f"step-*/{LEGACY_PICKLE}"))
                if legacy:
                    raise ClapbenchError(f"--resume: no checkpoint in {ckpts}; {legacy[-1]} is a pickle, which clapbench no longer reads "
                                         f"(unpickling can run code); expected step-NNNNNN/ folders holding {STATE_FILE}")
                if out.exists() and any(out.iterdir()) and not _is_training_output(out):
                    raise ClapbenchError(f"--resume: {out} is not empty and is no training output (no checkpoints/, metrics.jsonl or init/); "
                                         "choose a new --output")
                if not (self.cfg.init or self.cfg.config):
                    raise ClapbenchError(f"--resume: no complete checkpoint in {ckpts}, so training starts from the beginning; "
                                         "add --init CKPT or --config tiny|base to the command (with --resume) to say what it starts from")
            for half in sorted(ckpts.glob("step-*.tmp")):  # only once the run goes ahead: a refusal changes nothing
                shutil.rmtree(half, ignore_errors=True)
                self.console.print(f"--resume: removed {half}, a checkpoint whose writing was interrupted")
            if latest is None:
                self.console.print(f"--resume: no complete checkpoint in {ckpts}; training starts from the beginning (step 0) in {out}")
            return latest
        if out.exists() and any(out.iterdir()):
            if latest is not None:
                raise ClapbenchError(f"{out}: output folder is not empty; it holds a checkpoint at step {int(latest.name.split('-')[1])}: "
                                     "pass --resume to continue its training, or choose a new --output")
            if _is_training_output(out):
                raise ClapbenchError(f"{out}: output folder is not empty, but holds no complete checkpoint (the training stopped before "
                                     "its first): pass --resume to start it again from the beginning in this folder, or choose a new --output")
            raise ClapbenchError(f"{out}: output folder is not empty and is no training output; choose a new --output")
        return None

    def _starting_model(self, resume_from: Path | None) -> Path:
        """The folder the weights come from: the checkpoint, --init, or a fresh model written to DIR/init."""
        cfg = self.cfg
        if resume_from is not None:
            return resume_from
        if cfg.init:
            return Path(cfg.init)
        if not cfg.config:
            raise ClapbenchError("no model: pass --init CKPT (a HF ClapModel folder) or --config tiny|base")
        init = self.output / "init"
        if self.dist.main:
            build_fresh(init, cfg.config, self.data.captions(), seed=cfg.seed, fusion=cfg.fusion)
        self.dist.barrier()
        return init

    # ----- the run -----
    def run(self) -> Path:
        cfg, dd = self.cfg, self.dist
        if dd.main:
            self._check_output()
            self.output.mkdir(parents=True, exist_ok=True)
        dd.barrier()
        resume_from = latest_checkpoint(self.output) if cfg.resume else None
        source = self._starting_model(resume_from)
        clap, processor = load_for_training(source, cfg.fusion, self.console)
        self.clap, self.processor = clap, processor
        tokenizer = processor.tokenizer
        max_tokens = min(77, int(clap.config.text_config.max_position_embeddings) - 2)

        # Dropout differs per rank (as with any data-parallel run); everything else is seeded by (seed, epoch, item).
        random.seed(cfg.seed + dd.rank)
        np.random.seed(cfg.seed + dd.rank)
        torch.manual_seed(cfg.seed + dd.rank)

        clap.to(self.device)
        module = ContrastiveClap(clap)
        if dd.world > 1:
            module = torch.nn.parallel.DistributedDataParallel(
                module,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                # fusion layers see no gradient in a batch without long clips
                find_unused_parameters=bool(clap.config.audio_config.enable_fusion),
            )
        dataset = ClipCaptionDataset(self.data.examples, processor.feature_extractor, seed=cfg.seed, cache=cfg.cache_features)
        groups = example_groups(self.data.examples)
        batch_size = self._batch_size(len(self.data.examples))
        per_epoch = len(epoch_batches(groups, batch_size, cfg.seed, 0))
        if per_epoch == 0:
            raise DataError(f"{len(self.data.examples)} training examples make no full batch of {batch_size}; lower --batch-size")
        total = cfg.steps if cfg.steps is not None else max(1, int(cfg.epochs * per_epoch // cfg.accumulate))
        warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(1, round(0.05 * total))

        optimizer = torch.optim.AdamW(param_groups(clap, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(warmup, total, cfg.min_lr_ratio))
        step, elapsed_before = 0, 0.0
        if resume_from is not None:
            step, elapsed_before = self._load_state(resume_from, optimizer, scheduler, batch_size)
            self.console.print(f"resumed from {resume_from} at step {step}")
        log = MetricsLog(self.output / "metrics.jsonl", step) if dd.main else None
        self.total, self.batch_size, self.per_epoch = total, batch_size, per_epoch
        self._describe_start(source, batch_size, per_epoch, total, warmup)

        if step == 0 and cfg.eval_tasks:
            self._evaluate(source, 0)
        started = time.perf_counter()
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16) if self.precision == "bf16" else nullcontext()
        )
        micro = self._micro_batches(dataset, groups, batch_size, step * cfg.accumulate)
        last_loss, ckpt = float("nan"), None
        with training_progress(self.console) as progress:
            self.progress = progress
            bar = progress.add_task("train", total=total, completed=step, loss="...")
            while step < total:
                module.train()
                lr = optimizer.param_groups[0]["lr"]
                step_loss = torch.zeros((), device=self.device)
                for k in range(cfg.accumulate):
                    mels, longer, captions = next(micro)
                    tokens = tokenizer(captions, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
                    sync = dd.world == 1 or k == cfg.accumulate - 1
                    with (nullcontext() if sync else module.no_sync()):
                        with autocast:
                            audio, text, scale_a, scale_t = module(
                                mels.to(self.device, non_blocking=True),
                                longer.to(self.device),
                                tokens["input_ids"].to(self.device),
                                tokens["attention_mask"].to(self.device),
                            )
                        loss = contrastive_loss(audio, text, scale_a, scale_t) / cfg.accumulate
                        loss.backward()
                    step_loss += loss.detach()
                if cfg.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(clap.parameters(), cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                clamp_logit_scales(clap)
                step += 1
                if dd.world > 1:
                    dist.all_reduce(step_loss, op=dist.ReduceOp.SUM)
                    step_loss /= dd.world
                last_loss = float(step_loss)
                if not math.isfinite(last_loss):
                    raise ClapbenchError(f"step {step}: the loss is {last_loss}; lower --lr or check the data (silent or corrupt clips?)")
                seconds = elapsed_before + time.perf_counter() - started
                if log is not None and (step % cfg.log_every == 0 or step == total):
                    log.write({
                        "step": step,
                        "epoch": round(step * cfg.accumulate / per_epoch, 4),
                        "loss": round(last_loss, 6),
                        "lr": lr,
                        "logit_scale_a": round(float(clap.logit_scale_a.detach().exp()), 4),
                        "logit_scale_t": round(float(clap.logit_scale_t.detach().exp()), 4),
                        "examples": step * cfg.accumulate * batch_size,
                        "seconds": round(seconds, 3),
                    })
                progress.update(bar, completed=step, loss=f"{last_loss:.4f}")
                evaluate_now = bool(cfg.eval_tasks) and (step == total or (cfg.eval_every and step % cfg.eval_every == 0))
                if step % cfg.checkpoint_every == 0 or step == total or evaluate_now:
                    ckpt = self._save_checkpoint(step, optimizer, scheduler, seconds, log)
                    if evaluate_now and step < total:
                        self._evaluate(ckpt, step)
        self.progress = None
        if cfg.eval_tasks and step == total and ckpt is not None:
            self._evaluate(ckpt, step)
        seconds = elapsed_before + time.perf_counter() - started
        if dd.main:
            self._save_final(step, last_loss, seconds, log)
        dd.barrier()
        return self.output

    def _batch_size(self, n_examples: int) -> int:
        cfg, dd = self.cfg, self.dist
        group = self.data.group_size
        size = cfg.batch_size - cfg.batch_size % group
        if size != cfg.batch_size:
            self.console.print(f"--batch-size {cfg.batch_size} rounded down to {size}: temporal items come in groups of {group}")
        if size < 2 or size % dd.world:
            raise DataError(f"--batch-size {size}: a contrastive batch needs at least 2 examples, and a multiple of the {dd.world} processes")
        if size > n_examples:
            raise DataError(f"--batch-size {size} is larger than the {n_examples} training examples")
        return size

    def _micro_batches(self, dataset, groups, batch_size: int, start_micro: int):
        """This rank's micro-batches from global micro-batch ``start_micro`` on, across epochs, forever."""
        cfg, dd = self.cfg, self.dist
        epoch, offset = divmod(start_micro, self.per_epoch)
        while True:
            batches = epoch_batches(groups, batch_size, cfg.seed, epoch)[offset:]
            yield from rank_loader(dataset, batches, epoch, dd.rank, dd.world, cfg.workers, cfg.seed + epoch)
            epoch, offset = epoch + 1, 0

    def _describe_start(self, source: Path, batch_size: int, per_epoch: int, total: int, warmup: int) -> None:
        cfg = self.cfg
        n_params = sum(p.numel() for p in self.clap.parameters())
        self.console.print(
            f"training {n_params / 1e6:.2f} M parameters from {source} on {self.device} ({self.precision}, "
            f"{self.dist.world} process{'es' if self.dist.world > 1 else ''}): {len(self.data.examples)} examples, "
            f"batch {batch_size} x {cfg.accumulate} accumulated, {per_epoch} batches per epoch, "
            f"{total} steps ({total * cfg.accumulate / per_epoch:.2f} epochs), warm-up {warmup}, lr {cfg.lr:g}"
        )

    # ----- checkpoints -----
    def _save_checkpoint(self, step: int, optimizer, scheduler, seconds: float, log: MetricsLog | None) -> Path:
        dd = self.dist
        folder = self.output / "checkpoints" / f"step-{step:06d}"
        rngs = [None] * dd.world
        if dd.world > 1:
            dist.all_gather_object(rngs, rng_state())
        else:
            rngs = [rng_state()]
        if dd.main:
            tmp = folder.with_name(folder.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            self.clap.save_pretrained(tmp)
            self.processor.save_pretrained(tmp)
            info = {
                "step": step,
                "seconds": seconds,
                "batch_size": self.batch_size,
                "accumulate": self.cfg.accumulate,
                "seed": self.cfg.seed,
                "world_size": dd.world,
                "total_steps": self.total,
            }
            save_trainer_state(tmp, optimizer.state_dict(), scheduler.state_dict(), rngs, info)
            self._write_trained_on(tmp)
            if log is not None:
                plot_loss(log.records, tmp / "loss.png")
                plot_loss(log.records, self.output / "loss.png")
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
            self._prune_checkpoints()
        dd.barrier()
        return folder

    def _write_trained_on(self, folder: Path) -> dict:
        """``trained_on.json`` beside the weights: a hash of each training item's identity, so `clapbench run`
        marks results on items this model saw (those of the --init model it was trained from too)."""
        from clapbench.data.trained_on import TRAINED_ON_FILE, read_trained_on, trained_on_record

        paths = sorted({p for ex in self.data.examples for p in ((ex.sound,) if isinstance(ex.sound, str) else (ex.sound.path_a, ex.sound.path_b))})
        source = self.data.source or {}
        sources = [str(source.get("task") or source.get("file") or source.get("path") or "pair list")]
        details = {"data": source}
        record = trained_on_record(sources, paths, details)
        inherited = read_trained_on(self.cfg.init) if self.cfg.init else None
        if inherited is not None:
            record["sources"] += [s for s in inherited.sources if s not in record["sources"]]
            record["items"] = sorted(set(record["items"]) | inherited.identities)
            record["inherited_from"] = str(inherited.file)
        from clapbench.files import write_json

        write_json(Path(folder) / TRAINED_ON_FILE, record)
        return record

    def _prune_checkpoints(self) -> None:
        keep = self.cfg.keep_checkpoints
        if keep <= 0:
            return
        done = sorted(p for p in (self.output / "checkpoints").glob("step-*") if not p.name.endswith(".tmp"))
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)

    def _load_state(self, folder: Path, optimizer, scheduler, batch_size: int) -> tuple[int, float]:
        cfg, dd = self.cfg, self.dist
        state = load_trainer_state(folder)
        for key, now in (("batch_size", batch_size), ("accumulate", cfg.accumulate), ("seed", cfg.seed)):
            if state[key] != now:
                raise ClapbenchError(f"--resume: {folder} was trained with {key.replace('_', '-')} {state[key]}, this run has {now}; resume with the same value")
        if cfg.steps is not None and cfg.steps != state["total_steps"]:
            self.console.print(f"[yellow]--resume[/]: the schedule now ends at step {cfg.steps} (was {state['total_steps']}); the learning rates after step {state['step']} differ from the original plan")
        saved = state["optimizer"]
        optimizer.load_state_dict({**saved, "param_groups": with_tuples(saved["param_groups"], optimizer.param_groups)})
        scheduler.load_state_dict(state["scheduler"])
        if state["world_size"] == dd.world:
            set_rng_state(state["rng"][dd.rank])
        else:
            self.console.print(f"[yellow]--resume[/]: saved with {state['world_size']} processes, now {dd.world}; dropout RNG streams restart from the seed")
        return int(state["step"]), float(state["seconds"])

    def _save_final(self, step: int, loss: float, seconds: float, log: MetricsLog | None) -> None:
        import clapbench
        import transformers

        self.clap.save_pretrained(self.output)
        self.processor.save_pretrained(self.output)
        trained_on = self._write_trained_on(self.output)
        if log is not None:
            plot_loss(log.records, self.output / "loss.png")
        summary = {
            "steps": step,
            "final_loss": loss,
            "seconds": round(seconds, 2),
            "examples_seen": step * self.cfg.accumulate * self.batch_size,
            "batch_size": self.batch_size,
            "batches_per_epoch": self.per_epoch,
            "world_size": self.dist.world,
            "device": str(self.device),
            "precision": self.precision,
            "data": self.data.source,
            "trained_on": {k: v for k, v in trained_on.items() if k != "items"},  # the item hashes are in trained_on.json
            "settings": self.cfg.to_json(),
            "loss": "symmetric InfoNCE over the global batch: audio rows x logit_scale_a, caption rows x logit_scale_t",
            "optimizer": "AdamW (betas 0.9, 0.98; eps 1e-6; no decay on biases, norms, temperatures), linear warm-up, cosine decay",
            "versions": {"clapbench": clapbench.__version__, "torch": torch.__version__, "transformers": transformers.__version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        from clapbench.files import write_json

        write_json(self.output / "training.json", summary)
        self.console.print(f"trained model: {self.output} ({step} steps, final loss {loss:.4f}, {seconds:.1f} s)")

    # ----- evaluation -----
    def _evaluate(self, folder: Path, step: int) -> None:
        """clapbench's runner on ``folder``'s weights; result files under DIR/eval/step-NNNNNN/ (rank 0 only)."""
        cfg, dd = self.cfg, self.dist
        if dd.main:
            from clapbench.models import load_model
            from clapbench.run_options import RunOptions
            from clapbench.runner import run_task

            progress = getattr(self, "progress", None)
            if progress is not None:
                progress.stop()  # rich allows one live display: the runner shows its own
            device = str(self.device)
            loaded = load_model(str(folder), device=device, seed=cfg.seed, model_id=f"step-{step:06d}")
            options = RunOptions(
                output=self.output / "eval",
                data=dict(cfg.eval_data),
                data_root=cfg.eval_data_root,
                folds=None,
                batch_size=cfg.eval_batch_size,
                workers=cfg.workers,
                seed=cfg.seed,
                n_resamples=cfg.eval_resamples,
                save_predictions=True,
                overwrite=True,
            )
            for spec in cfg.eval_tasks:
                # --eval-folds applies to the tasks with official folds (esc50's 5), not to caption sets (clotho)
                has_folds = bool((spec.source or spec).dataset.get("fold_column"))
                r = run_task(spec, loaded, dataclasses.replace(options, folds=cfg.eval_folds if has_folds else None), self.console)
                if r is None:
                    continue
                lo, hi = r.interval
                chance = f", chance {r.chance:.4f}" if r.chance is not None else ""
                marks = f" ({', '.join(r.marks)})" if r.marks else ""
                self.console.print(f"eval step {step}: {spec.name} {r.main_metric} {r.main_score:.4f} [{lo:.4f}, {hi:.4f}]{chance}{marks}")
            del loaded
            if progress is not None:
                progress.start()
        dd.barrier()


def train(cfg: TrainConfig, data: ExampleSet, console: Console | None = None) -> Path:
    trainer = Trainer(cfg, data, console)
    try:
        return trainer.run()
    finally:
        if trainer.dist.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
