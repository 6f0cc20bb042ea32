"""What a training run shows and leaves behind: a progress bar, a JSONL metrics log, a loss curve (PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from clapbench.files import atomic_write_text


class StepRate(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.2f} steps/s" if speed else "  ... steps/s", style="cyan")


def training_progress(console) -> Progress:
    return Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        StepRate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logged step (step, loss, lr, logit scales, seconds, ...).

    Opening it for a resumed run drops the lines past the resumed step, so the file tells one history.
    """

    def __init__(self, path: Path, resume_step: int | None):
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    if rec.get("step", 0) <= resume_step:
                        self.records.append(rec)
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def plot_loss(records: list[dict[str, Any]], path: Path, title: str = "training loss") -> None:
    """Loss per logged step (and its running mean) with the learning rate on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.array([r["step"] for r in records if "loss" in r])
    loss = np.array([r["loss"] for r in records if "loss" in r])
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        if len(steps):
            ax.plot(steps, loss, color="tab:blue", alpha=0.35, lw=1, label="loss")
            k = max(1, len(loss) // 20)
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1 :], smooth, color="tab:blue", lw=2, label=f"running mean ({k})")
            lr_ax = ax.twinx()
            lr_ax.plot(steps, [r["lr"] for r in records if "loss" in r], color="tab:orange", lw=1, label="learning rate")
            lr_ax.set_ylabel("learning rate", color="tab:orange")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("contrastive loss")
        ax.set_title(title)
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp)
        tmp.replace(path)
    finally:
        plt.close(fig)
