"""Side by side: clapbench against MTEB's zero-shot audio evaluator and the transformers pipeline.

The same model folder, the same clips and the same single template go through, each side a fresh process,
in alternating rounds (clapbench, MTEB, pipeline, clapbench, MTEB, pipeline, ...):

  clapbench  `python -m clapbench run --tasks esc50 --no-cache --template T --save-predictions` (this checkout);
  MTEB       benchmarks/mteb_side/run_mteb.py in the benchmark's own venv: mteb.evaluate on MTEB's
             ESC50_Zeroshot task (its ZeroShotClassificationEvaluator) with MTEB's ClapZeroShotWrapper,
             the dataset built from the local files, no result cache;
  pipeline   a loop over pipeline("zero-shot-audio-classification"), one call per clip
             (zero_shot_throughput.run_pipeline), hypothesis_template T.

Each side's wall time is that of its whole process, as a user waits for it: Python start-up, imports, model
load, decoding, embedding, scoring (and clapbench's bootstrap and result files). Model loading is counted for
every side; each side's own breakdown is printed beside it. Prints the ratios MTEB/clapbench and
pipeline/clapbench (goals >= 2x and >= 5x) and the top-1 agreement between sides (same class / clips).

The venv (default ~/.cache/clapbench-bench/mteb-venv) is made once and reused: torch==2.13.0 first, then
mteb==2.26.24, torchaudio and soundfile, every pip call under a constraints file pinning torch==2.13.0.
Runs offline; by default a full-size random ClapModel and 200 synthesized ESC-50-layout clips (50 classes, 5 s).

    python benchmarks/mteb_side_by_side.py                          # full-size, 200 clips, 2 rounds
    python benchmarks/mteb_side_by_side.py --model tiny --clips 50 --rounds 1
    python benchmarks/mteb_side_by_side.py --skip-pipeline --rounds 3
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MTEB_VERSION = "2.26.24"
TORCH_PIN = "torch==2.13.0"
# torchaudio 2.11.1 is the newest on the registry (it asks torch>=2.11); soundfile decodes the files.
VENV_PACKAGES = [f"mteb=={MTEB_VERSION}", "torchaudio==2.11.1", "soundfile"]
DEFAULT_TEMPLATE = "This is a sound of {}."  # the pipeline's default hypothesis_template


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="full-size", help="'full-size' (default ClapConfig, random weights), 'tiny', or a HF ClapModel folder")
    p.add_argument("--clips", type=int, default=200, help="clips (classes x ceil(clips/classes) are synthesized; default 200)")
    p.add_argument("--classes", type=int, default=50, help="classes of the synthesized dataset (default 50)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of synthesized clips (default 5, as ESC-50)")
    p.add_argument("--data", help="an existing ESC-50 layout (meta/esc50.csv, audio/); every clip in it is used")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    p.add_argument("--template", default=DEFAULT_TEMPLATE, help=f"the single prompt template of every side (default '{DEFAULT_TEMPLATE}')")
    p.add_argument("--batch-size", type=int, default=32, help="audio batch size of clapbench and MTEB (default 32, both tools' default)")
    p.add_argument("--skip-pipeline", action="store_true", help="run clapbench and MTEB only")
    p.add_argument("--skip-mteb", action="store_true", help="run clapbench and the pipeline only (no venv needed)")
    p.add_argument("--work-dir", type=Path, default=Path.home() / ".cache" / "clapbench-bench",
                   help="model, data and the venv live here and are reused (default ~/.cache/clapbench-bench)")
    p.add_argument("--venv", type=Path, help="MTEB's venv (default WORK_DIR/mteb-venv)")
    p.add_argument("--side", choices=("pipeline",), help=argparse.SUPPRESS)  # internal: one side in this process
    p.add_argument("--labels-json", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def pip(venv: Path, constraints: Path, *packages: str) -> None:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(constraints), *packages]
    print("  $", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def ensure_venv(venv: Path) -> Path:
    """MTEB's venv, made once: the CPU torch first, then mteb, every pip call held to torch==2.13.0."""
    python = venv / "bin" / "python"
    ready = venv / "clapbench-ready.json"
    if ready.is_file():
        return python
    print(f"making MTEB's venv in {venv} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints = venv / "constraints.txt"
    constraints.write_text(TORCH_PIN + "\n")
    pip(venv, constraints, TORCH_PIN)  # first, so nothing later can pull another torch
    pip(venv, constraints, *VENV_PACKAGES)
    # The registry's torchaudio ships C++ extensions built against CUDA torch (they need libc10_cuda.so) and
    # fail to load with the CPU torch. Without them torchaudio imports as a pure-Python package (its own
    # fallback when the libraries are absent); MTEB only uses torchaudio.transforms.Resample, pure PyTorch.
    lib = Path(subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('torchaudio').submodule_search_locations[0])"],
                              check=True, capture_output=True, text=True).stdout.strip()) / "lib"
    for so in lib.glob("*.so"):
        so.unlink()
    versions = subprocess.run(
        [str(python), "-c", "import json, torch, torchaudio, mteb, transformers, datasets; print(json.dumps({m.__name__: m.__version__ "
         "for m in (torch, torchaudio, mteb, transformers, datasets)}))"],
        check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout.strip()
    if "+cpu" not in json.loads(versions)["torch"]:
        sys.exit(f"MTEB's venv got a torch that is not the CPU wheel: {versions}")
    ready.write_text(versions + "\n")
    return python


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(cmd: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return seconds, proc


def last_json(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def pipeline_side(args) -> None:
    """The pipeline side, in a process of its own: load, then one call per clip (zero_shot_throughput.run_pipeline)."""
    t0 = time.perf_counter()
    sys.path.insert(0, str(HERE))
    from zero_shot_throughput import run_pipeline  # noqa: E402 (sets the offline variables, imports torch)
    from transformers import pipeline

    t_imports = time.perf_counter() - t0
    labels = json.loads(args.labels_json)
    rows = list(csv.DictReader(open(Path(args.data) / "meta" / "esc50.csv", newline="")))
    paths = [str(Path(args.data) / "audio" / row["filename"]) for row in rows]
    t = time.perf_counter()
    pipe = pipeline("zero-shot-audio-classification", model=args.model_dir, device="cpu")
    t_load = time.perf_counter() - t
    preds, seconds = run_pipeline(pipe, paths, labels, template=args.template)
    print(json.dumps({"side": "pipeline", "imports_s": t_imports, "load_s": t_load, "evaluate_s": seconds,
                      "predictions": {row["filename"]: p for row, p in zip(rows, preds)}}))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.side == "pipeline":
        pipeline_side(args)
        return 0

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(HERE))
    import platform

    from zero_shot_throughput import PIPELINE_TEMPLATE, class_names, prepare_data, prepare_model

    from clapbench.registry import registry

    spec = registry()["esc50"]
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    sides = ["clapbench"] + ([] if args.skip_mteb else ["mteb"]) + ([] if args.skip_pipeline else ["pipeline"])
    venv_python = None if args.skip_mteb else ensure_venv(args.venv or work / "mteb-venv")

    data = prepare_data(args, work)
    corpus = [tpl.format(spec.display_name(c)) for c in class_names(args.classes) for tpl in spec.templates + [PIPELINE_TEMPLATE]]
    model_dir = prepare_model(args, work, corpus)
    rows = list(csv.DictReader(open(data / "meta" / "esc50.csv", newline="")))
    by_target = {int(r["target"]): r["category"] for r in rows}
    labels = [spec.display_name(by_target[t]) for t in sorted(by_target)]  # prompt names in `target` order
    if sorted(by_target) != list(range(len(by_target))):
        sys.exit(f"{data}: targets are not 0..{len(by_target) - 1}")
    files = [r["filename"] for r in rows]

    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?") \
        if os.path.exists("/proc/cpuinfo") else platform.processor() or "?"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, {cpu}; python {platform.python_version()}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    if venv_python:
        print(f"MTEB venv: {(venv_python.parent.parent / 'clapbench-ready.json').read_text().strip()}")
    print(f"model {model_dir}\ndata {data}: {len(files)} clips, {len(labels)} classes; template '{args.template}'; "
          f"batch {args.batch_size}; cache off; rounds {args.rounds}; wall s = the whole fresh process, model load counted")

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    venv_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}  # the venv sees none of the project's packages
    labels_json = json.dumps(labels)
    out = Path(tempfile.mkdtemp(prefix="clapbench-side-by-side-"))
    commands = {
        "clapbench": [sys.executable, "-m", "clapbench", "run", "--model", str(model_dir), "--tasks", "esc50", "--data", f"esc50={data}",
                      "--no-cache", "--template", args.template, "--batch-size", str(args.batch_size), "--device", "cpu",
                      "--output", str(out), "--save-predictions", "--overwrite"],
        "mteb": [str(venv_python), str(HERE / "mteb_side" / "run_mteb.py"), "--model", str(model_dir), "--data", str(data),
                 "--template", args.template, "--labels-json", labels_json, "--batch-size", str(args.batch_size)],
        "pipeline": [sys.executable, str(Path(__file__).resolve()), "--side", "pipeline", "--model-dir", str(model_dir), "--data", str(data),
                     "--template", args.template, "--labels-json", labels_json],
    }
    walls = {s: [] for s in sides}
    preds = {s: [] for s in sides}
    for r in range(1, args.rounds + 1):
        for side in sides:
            load = uptime()
            seconds, proc = timed(commands[side], venv_env if side == "mteb" else env)
            if side == "clapbench":
                table = csv.DictReader(open(out / model_dir.name / "esc50.predictions.csv", newline=""))
                got = {Path(row["path"]).name: spec.display_name(row["prediction"]) for row in table}
                detail = ""
            else:
                info = last_json(proc.stdout)
                got = info["predictions"]
                detail = "  (" + ", ".join(f"{k[:-2]} {info[k]:.1f}" for k in ("imports_s", "load_s", "data_s", "evaluate_s") if k in info) + ")"
            walls[side].append(seconds)
            preds[side].append(got)
            print(f"round {r} {side:<9} {seconds:8.2f} s{detail}   [{load}]", flush=True)

    def agreement(a: dict, b: dict) -> str:
        return f"{sum(a.get(f) == b.get(f) for f in files)}/{len(files)}"

    print("\nwall s per round: " + "; ".join(f"{s} " + "/".join(f"{x:.1f}" for x in walls[s]) for s in sides))
    for side, goal in (("mteb", 2), ("pipeline", 5)):
        if side in walls:
            per_round = [o / c for o, c in zip(walls[side], walls["clapbench"])]
            print(f"{side}/clapbench: " + ", ".join(f"{x:.2f}x" for x in per_round)
                  + f"; sum {sum(walls[side]) / sum(walls['clapbench']):.2f}x (goal >= {goal}x)")
    for i, a in enumerate(sides):
        for b in sides[i + 1:]:
            print(f"top-1 agreement {a} vs {b}: {agreement(preds[a][0], preds[b][0])}")
    for side in sides:  # every side should repeat itself exactly
        print(f"{side} identical across rounds: {all(p == preds[side][0] for p in preds[side])}")
    print(f"load at the end: [{uptime()}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
