"""`clapbench demo`: the whole path (run, result files, leaderboard) on material built here, offline."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from clapbench.demo.synth import DEMO_CLASSES, make_esc50_layout
from clapbench.demo.tiny_model import build_tiny_clap


def run_demo(output: Path, console: Console, clips_per_class: int = 10, seed: int = 0) -> Path:
    from clapbench.models import load_model
    from clapbench.registry import registry
    from clapbench.results.leaderboard import build_leaderboard, to_csv_frame, to_markdown
    from clapbench.results.store import atomic_write_text, load_results
    from clapbench.runner import RunOptions, run_task

    output = Path(output)
    work = output / "demo-data"
    data = make_esc50_layout(work / "esc50", clips_per_class=clips_per_class, seed=seed, formats=("wav", "flac"), channels=(1, 2))
    console.print(f"synthesized an ESC-50-layout dataset: {len(DEMO_CLASSES)} classes x {clips_per_class} clips in {data}")
    spec = registry()["esc50"]
    results = output / "results"
    for model_seed in (0, 1):
        folder = build_tiny_clap(work / f"tiny-clap-random-{model_seed}", seed=model_seed, corpus=[c.replace("_", " ") for c in DEMO_CLASSES])
        loaded = load_model(str(folder), device="cpu", seed=seed)
        console.print(f"model {loaded.model_id}: a tiny randomly initialised ClapModel (expect chance-level scores)")
        run_task(spec, loaded, RunOptions(output=results, data={"esc50": str(data)}, seed=seed, save_predictions=True, overwrite=True, workers=0), console)
    table, domains = build_leaderboard(load_results(results))
    atomic_write_text(output / "leaderboard.csv", to_csv_frame(table).to_csv(index=False))
    atomic_write_text(output / "leaderboard.md", to_markdown(table, domains))
    console.print(to_markdown(table, domains))
    console.print(f"results: {results}; leaderboard: {output / 'leaderboard.csv'}, {output / 'leaderboard.md'}")
    return output
