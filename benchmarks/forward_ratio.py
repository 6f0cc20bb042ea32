"""End to end against the model's bare forward: how close a zero-shot run comes to the network's own speed.

    python benchmarks/forward_ratio.py                     # full-size random ClapModel, 200 clips of 5 s
    python benchmarks/forward_ratio.py --model tiny --clips 100

(a) bare: ClapModel.get_audio_features on features extracted beforehand (ClapFeatureExtractor, not timed), in
    batches of --batch-size, under torch.inference_mode: the network alone, twice: the network clapbench runs
    (HTSAT's window attention fused, models/window_attention.py) and transformers' ClapModel as shipped (eager);
(b) end to end: clapbench.evaluate on the same clips from their files (decoding, resampling, features,
    prompts, scores, bootstrap), cache off, the model loaded beforehand (not timed), once per front end
    (--front-end: torch, log-mel batched on the model's device; transformers, the extractor in the workers).
Prints clips/s of each and the ratio of end to end to the bare forward of the same network (goal on 2 CPU
cores: >= 0.8), and to transformers' eager one. Both run under the allocator setting of
the clapbench CLI (freed memory kept in the heap) unless --allocator default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402

import clapbench  # noqa: E402
from clapbench.audio.decode import load_audio  # noqa: E402
from clapbench.cpu_heap import keep_freed_memory  # noqa: E402
from clapbench.models import load_model  # noqa: E402
from common import add_suite_arguments, random_clap, synthesized_esc50, work_folder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_suite_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--front-end", nargs="+", default=["torch", "transformers"], choices=("torch", "transformers"))
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: clapbench's default)")
    parser.add_argument("--rounds", type=int, default=1, help="alternate bare and end-to-end runs this many times")
    parser.add_argument("--allocator", choices=("keep", "default"), default="keep",
                        help="keep: freed memory stays in the heap, as the clapbench CLI sets it (cpu_heap.py); default: glibc's own")
    args = parser.parse_args()
    kept = args.allocator == "keep" and keep_freed_memory()  # both sides run under the same allocator
    with work_folder(args.work_dir) as work:
        data = synthesized_esc50(work, args.clips, seconds=args.seconds)
        folder = random_clap(work, args.model)
        models = {fe: load_model(str(folder), device="cpu", front_end=fe).model for fe in args.front_end}
        hf = next(iter(models.values()))  # clapbench's HF adapter: .model is the transformers ClapModel
        from transformers import ClapModel

        networks = {"clapbench's network (fused attention)": hf.model,
                    "transformers' eager ClapModel": ClapModel.from_pretrained(folder, local_files_only=True).eval()}
        paths = sorted(str(p) for p in (data / "audio").iterdir())
        features = [hf.extractor(load_audio(p, hf.sample_rate)) for p in paths]  # transformers' extractor, not timed
        print(json.dumps({"model": args.model, "clips": len(paths), "batch_size": args.batch_size, "cores": os.cpu_count(),
                          "torch_threads": torch.get_num_threads(), "workers": args.workers, "heap_kept": kept, "load": round(os.getloadavg()[0], 2)}))
        for round_ in range(args.rounds):
            print(f"round {round_ + 1} (load {os.getloadavg()[0]:.2f})")
            bare = {}
            for name, network in networks.items():
                start = time.perf_counter()
                with torch.inference_mode():
                    for i in range(0, len(features), args.batch_size):
                        chunk = features[i : i + args.batch_size]
                        mels = torch.from_numpy(np.stack([m for m, _ in chunk]))
                        longer = torch.tensor([[lg] for _, lg in chunk])
                        network.get_audio_features(input_features=mels, is_longer=longer)
                bare[name] = time.perf_counter() - start
                print(f"  bare get_audio_features, {name}: {len(paths) / bare[name]:7.2f} clips/s ({bare[name]:.2f} s)")
            same, eager = bare.values()
            for fe, model in models.items():
                start = time.perf_counter()
                results = clapbench.evaluate(model, "esc50", data={"esc50": str(data)}, batch_size=args.batch_size, no_cache=True,
                                             workers=args.workers, templates=["This is a sound of {}."], console=Console(quiet=True))
                end_to_end = time.perf_counter() - start
                n = results.records[0].n_items
                print(f"  clapbench end to end, {fe:12s} {n / end_to_end:7.2f} clips/s ({end_to_end:.2f} s): "
                      f"end to end / bare = {same / end_to_end:.3f} (goal >= 0.8); / transformers' eager bare = {eager / end_to_end:.3f}")


if __name__ == "__main__":
    main()
