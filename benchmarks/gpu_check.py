"""The GPU check (run by benchmarks/gpu.sh): clapbench end to end against the model's bare forward, fp32 and bf16.

    bash benchmarks/gpu.sh                                  # full-size ClapModel, 2000 clips of 5 s, cuda
    bash benchmarks/gpu.sh --device cpu --model tiny --clips 40   # the same steps on the CPU (the test suite's run)

Installs nothing: it builds a full-size default ``ClapConfig()`` with random weights (153 M parameters, the cost
of laion/clap-htsat-unfused) and an ESC-50 layout of synthesized clips (50 classes by default) under --work-dir, then for
each dtype (float32, bfloat16):
- end to end: ``clapbench.evaluate`` (the model loaded beforehand, its load time printed apart) on the esc50 task from the files (decoding and resampling in the workers,
  log-mel on the device, one template, cache off, bootstrap 1000), clips/s and the GPU's utilisation while it
  runs (nvidia-smi sampled every 200 ms; "n/a" without it);
- bare forward: ``ClapModel.get_audio_features`` on features prepared beforehand and already on the device,
  same batch size, clips/s.
Then the top-1 agreement of the fp32 and bf16 predictions, clip by clip. Prints one JSON line of everything last.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEMPLATE = "This is a sound of {}."


class Utilisation:
    """Mean GPU utilisation (%) reported by nvidia-smi while the block runs; None where there is no nvidia-smi."""

    def __init__(self, device: str):
        self.samples: list[float] = []
        self.command = shutil.which("nvidia-smi") if device.startswith("cuda") else None
        index = device.split(":")[1] if ":" in device else "0"
        self.args = [self.command, f"--id={index}", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"]
        self.proc = None

    def __enter__(self):
        if self.command:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.samples.append(float(line.strip()))
            except ValueError:
                pass

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.reader.join(timeout=2)

    @property
    def mean(self) -> float | None:
        return round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def bare_forward(folder: Path, paths: list[str], device: str, dtype: str, batch_size: int) -> float:
    """clips/s of get_audio_features alone: features computed (not timed) and moved to the device beforehand."""
    import torch

    from clapbench.audio.decode import load_audio
    from clapbench.models import load_model

    hf = load_model(str(folder), device=device, dtype=dtype, front_end="torch").model
    batches = []
    for i in range(0, len(paths), batch_size):
        clips = [hf.audio_preprocessor(load_audio(p, hf.sample_rate)) for p in paths[i : i + batch_size]]
        with torch.inference_mode():
            mels = hf.log_mel.features(clips).to(hf.dtype)
        batches.append((mels, torch.tensor([[c.longer] for c in clips], device=hf.device)))
    sync = torch.cuda.synchronize if hf.device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        hf.model.get_audio_features(input_features=batches[0][0], is_longer=batches[0][1])  # warm-up (kernels, autotune)
        sync()
        start = time.perf_counter()
        for mels, longer in batches:
            hf.model.get_audio_features(input_features=mels, is_longer=longer)
        sync()
    return len(paths) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", choices=("full-size", "tiny"), default="full-size")
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: clapbench's default)")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the model and the clips here for a rerun")
    args = parser.parse_args()

    import torch

    import clapbench
    from clapbench.models import load_model
    from common import random_clap, synthesized_esc50
    from rich.console import Console

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: torch {torch.__version__} sees no CUDA device; run with --device cpu to check the steps", file=sys.stderr)
        return 2
    started = time.perf_counter()
    tmp = tempfile.TemporaryDirectory()
    work = args.work_dir or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    data = synthesized_esc50(work, args.clips, args.classes, args.seconds)
    folder = random_clap(work, args.model)
    paths = sorted(str(p) for p in (data / "audio").iterdir())
    prepared_s = time.perf_counter() - started
    gpu = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else "cpu"
    print(f"device {args.device} ({gpu}), torch {torch.__version__}, {len(paths)} clips of {args.seconds:g} s, "
          f"{args.model} model, batch {args.batch_size}, set-up {prepared_s:.1f} s", flush=True)

    report: dict = {"device": args.device, "gpu": gpu, "torch": torch.__version__, "clips": len(paths), "model": args.model,
                    "batch_size": args.batch_size, "cpu_cores": os.cpu_count(), "setup_s": round(prepared_s, 1), "runs": {}}
    predictions = {}
    for dtype in args.dtypes.split(","):
        start = time.perf_counter()
        model = load_model(str(folder), device=args.device, dtype=dtype).model
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        with Utilisation(args.device) as util:
            results = clapbench.evaluate(model, "esc50", data={"esc50": str(data)}, device=args.device, dtype=dtype,
                                         batch_size=args.batch_size, workers=args.workers, no_cache=True, templates=[TEMPLATE],
                                         console=Console(quiet=True))
        wall = time.perf_counter() - start
        record = results.records[0]
        predictions[dtype] = results.predictions("esc50").set_index("path")["prediction"]
        bare = bare_forward(folder, paths[: min(len(paths), 8 * args.batch_size)], args.device, dtype, args.batch_size)
        run = {"end_to_end_clips_per_s": round(record.n_items / wall, 2), "wall_s": round(wall, 2), "model_load_s": round(load_s, 2), "bare_forward_clips_per_s": round(bare, 2),
               "end_to_end_over_bare": round(record.n_items / wall / bare, 3), "gpu_utilisation_percent": util.mean,
               "accuracy": round(record.main_score, 4), "front_end": record.extra("protocol").get("front_end", "?").split(":")[0],
               "attention": record.extra("protocol").get("attention", "?").split(":")[0]}
        report["runs"][dtype] = run
        print(f"{dtype:9s} end to end {run['end_to_end_clips_per_s']:8.1f} clips/s ({wall:.1f} s; model load {load_s:.1f} s not counted), "
              f"bare forward {bare:8.1f} clips/s, ratio {run['end_to_end_over_bare']:.2f}, "
              f"GPU utilisation {f'{util.mean}%' if util.mean is not None else 'n/a (no nvidia-smi)'}", flush=True)
    if len(predictions) == 2:
        a, b = predictions.values()
        same = int((a == b.reindex(a.index)).sum())
        report["top1_agreement"] = {"same": same, "clips": len(a), "fraction": round(same / len(a), 4)}
        print(f"fp32 / bf16 top-1 agreement: {same} of {len(a)} clips ({same / len(a):.1%})")
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
