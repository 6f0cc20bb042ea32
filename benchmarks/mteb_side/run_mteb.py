"""MTEB's side of benchmarks/mteb_side_by_side.py: one zero-shot audio classification through mteb.evaluate.

Run by the driver in the benchmark's own venv (mteb 2.26, torch 2.13 CPU), never in the project's environment:

    VENV/bin/python benchmarks/mteb_side/run_mteb.py --model FOLDER --data ESC50_FOLDER \
        --template 'This is a sound of {}.' --labels-json '["dog", ...]'

MTEB's own pieces do the work: its ESC50_Zeroshot task class (AbsTaskZeroShotClassification, so its
ZeroShotClassificationEvaluator: candidate prompts embedded once, clips through a DataLoader in batches of
--batch-size, cosine similarity, argmax) and its ClapZeroShotWrapper (HF ClapModel + ClapProcessor, resampled by
torchaudio in MTEB's AudioCollator). Two things are replaced to run offline on local files: the task's
load_data builds the datasets.Dataset from the ESC-50 layout (meta/esc50.csv, audio/) instead of the hub, and
get_candidate_labels gives the driver's single template over the driver's class names, so every side embeds
the same prompts. The wrapper loads the local folder. No result cache (cache=None): nothing is written.

Prints one JSON line: seconds for imports, model load, data (decoding the files), evaluate, and the top-1
class name per file.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

T0 = time.perf_counter()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="HF ClapModel folder")
    p.add_argument("--data", required=True, help="ESC-50 layout: meta/esc50.csv, audio/")
    p.add_argument("--template", required=True, help="the single prompt template, '{}' marks the class")
    p.add_argument("--labels-json", required=True, help="class names as prompts read them, in `target` order (JSON list)")
    p.add_argument("--batch-size", type=int, default=32, help="MTEB's encode batch size (default 32, mteb.evaluate's own)")
    args = p.parse_args()
    labels = json.loads(args.labels_json)

    import numpy as np
    import soundfile as sf
    import torch
    from datasets import Dataset, DatasetDict

    import mteb
    from mteb.models.model_implementations.clap_models import ClapZeroShotWrapper, clap_htsat_unfused
    from mteb.tasks.zeroshot_classification.zxx.esc50 import ESC50ZeroshotClassification

    t_imports = time.perf_counter() - T0

    class LocalESC50(ESC50ZeroshotClassification):
        """MTEB's ESC-50 zero-shot task over a local ESC-50 layout, with one given template."""

        def load_data(self, num_proc=None, **kwargs) -> None:
            rows = list(csv.DictReader(open(Path(args.data) / "meta" / "esc50.csv", newline="")))
            audio = []
            for row in rows:
                wave, sr = sf.read(Path(args.data) / "audio" / row["filename"], dtype="float32", always_2d=True)
                audio.append({"array": wave.mean(axis=1), "sampling_rate": sr})  # mono, at the file's rate
            self.files = [row["filename"] for row in rows]
            ds = Dataset.from_dict({"audio": audio, "target": [int(row["target"]) for row in rows]})
            # Rows come back as numpy arrays, not lists of floats: the fast way to hold decoded audio.
            self.dataset = DatasetDict({"train": ds.with_format("numpy")})
            self.data_loaded = True

        def get_candidate_labels(self) -> list[str]:
            return [args.template.format(name) for name in labels]

        def _calculate_scores(self, labels_, probs):
            self.predictions = np.asarray(probs).argmax(1)  # the evaluator's top-1, kept for the agreement check
            return super()._calculate_scores(labels_, probs)

    t = time.perf_counter()
    model = ClapZeroShotWrapper(args.model, revision=None, device="cpu")
    # MTEB's own metadata of laion/clap-htsat-unfused (cosine similarity), renamed for the local folder.
    model.mteb_model_meta = clap_htsat_unfused.model_copy(update={"name": f"local/{Path(args.model).name}", "revision": "local"})
    t_load = time.perf_counter() - t

    task = LocalESC50()
    t = time.perf_counter()
    task.load_data()
    t_data = time.perf_counter() - t

    t = time.perf_counter()
    result = mteb.evaluate(
        model, task, cache=None, overwrite_strategy="always", encode_kwargs={"batch_size": args.batch_size},
        show_progress_bar=False,
    )
    t_eval = time.perf_counter() - t
    scores = result.task_results[0].scores["train"][0]
    print(json.dumps({
        "side": "mteb", "mteb": mteb.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "imports_s": t_imports, "load_s": t_load, "data_s": t_data, "evaluate_s": t_eval, "accuracy": scores["accuracy"],
        "predictions": {f: labels[int(k)] for f, k in zip(task.files, task.predictions)},
    }))


if __name__ == "__main__":
    main()
