"""The options of one run, shared by the runner and the evaluations it calls (a module of its own so that
neither imports the other for it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# "zero-shot" is the evaluation the task file declares; "linear-probe" applies to classification tasks.
EVALUATION_CHOICES = ("zero-shot", "linear-probe")
PROBE_VARIANT = "linear-probe"


@dataclass
class RunOptions:
    output: Path | None  # None: write nothing (the Python API keeps results in memory)
    data: dict[str, str] = field(default_factory=dict)
    data_root: str | None = None
    folds: list[str] | None = None
    limit: int | None = None
    batch_size: int = 32
    workers: int | None = None
    seed: int = 0
    n_resamples: int = 1000
    save_predictions: bool = False
    overwrite: bool = False
    pairs: Path | None = None  # a saved pair list for tasks built from a source task (the temporal probes)
    evaluations: list[str] = field(default_factory=lambda: ["zero-shot"])  # of EVALUATION_CHOICES
    probe_seed: int = 0
    cache_dir: str | None = None  # None: the user's cache folder (XDG)
    no_cache: bool = False
    templates_given: bool = False  # --template given: a protocol preset's prompt does not replace them
    keep_going: bool = False  # run the tasks that can run when others cannot; report those at the end
    invocation: dict[str, Any] | None = None  # the command's effective options (--config file and flags), recorded in results
    # what the model was asked to be (protocol, family, dtype, decoding), part of the run fingerprint
    model_request: dict[str, Any] = field(default_factory=dict)
    write: bool = True  # False on the ranks of a sharded run other than rank 0: they compute, rank 0 writes
    world_size: int = 1  # processes sharing the clip batches (torchrun); recorded, not part of the fingerprint


def model_request_fields(device: str, dtype: str, family: str | None, protocol: str, tokenizer: str | None, decoding,
                         front_end: str = "auto", attention: str = "auto") -> dict[str, Any]:
    """How the model was asked to run, as the run fingerprint records it: the device kind (embeddings of
    one model differ by float noise across devices), dtype, family, preset, tokenizer, a captioner's decoding and
    the HF feature front end and window attention asked for."""
    from clapbench.models import resolve_device

    return {
        "device": resolve_device(device).split(":")[0],
        "dtype": dtype,
        "family": family,
        "protocol": protocol,
        "tokenizer": str(Path(tokenizer).resolve()) if tokenizer else None,
        "decoding": decoding.describe() if decoding is not None else None,
        "front_end": front_end,
        "attention": attention,
    }


def parse_data_options(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """--data NAME=PATH values as a map (`run`, `train` and `data check` read them alike)."""
    from clapbench.errors import ClapbenchError

    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ClapbenchError(f"--data '{value}': expected NAME=PATH, e.g. esc50=/data/ESC-50-master")
        out[name.strip()] = path.strip()
    return out
