"""What the benchmark scripts share: a work folder, a synthesized ESC-50 layout and a random ClapModel, each reused
from --work-dir when already there."""

from __future__ import annotations

import math
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# clapbench is imported where it is used: each script first decides which checkout's clapbench it measures.


@contextmanager
def work_folder(path: Path | None, prefix: str = "clapbench-bench-") -> Iterator[Path]:
    """``path`` (made when missing, kept after), or a temporary folder removed at the end."""
    if path is not None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def synthesized_esc50(work: Path, clips: int, classes: int = 50, seconds: float = 5.0) -> Path:
    """An ESC-50 layout of ``classes`` x ceil(clips / classes) synthesized clips at 44.1 kHz (seeded), in ``work``."""
    from clapbench.audio.synth import make_esc50_layout

    per_class = max(1, math.ceil(clips / classes))
    root = work / f"esc50-{classes}x{per_class}x{seconds:g}s"
    if not (root / "meta" / "esc50.csv").is_file():
        make_esc50_layout(root, classes=[f"class_{i}" for i in range(classes)], clips_per_class=per_class, seconds=seconds)
    return root


def random_clap(work: Path, kind: str) -> Path:
    """A HF ClapModel folder with seeded random weights: ``full-size`` (the default ClapConfig, the cost profile of
    laion/clap-htsat-unfused) or ``tiny``."""
    from clapbench.models.tiny_clap import build_tiny_clap

    if kind not in ("full-size", "tiny"):
        raise ValueError(f"model {kind!r}: expected full-size or tiny")
    folder = work / f"clap-{kind}-random"
    if not (folder / "config.json").is_file():
        build_tiny_clap(folder, seed=0, full_size=kind == "full-size")
    return folder


def add_suite_arguments(parser, clips: int = 200) -> None:
    """The options every script takes for its model and synthesized clips."""
    parser.add_argument("--model", choices=("full-size", "tiny"), default="full-size",
                        help="a random ClapModel: full-size (the default ClapConfig) or tiny")
    parser.add_argument("--clips", type=int, default=clips, help=f"synthesized clips, 50 classes (default {clips})")
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5, as ESC-50)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the model and the clips here, reused when present")
