"""clapbench: trustworthy benchmarks for CLAP models.

The public API (see README, "From Python"): ``evaluate``, ``leaderboard``, ``compare``, ``tasks``, and the
``Results`` that ``evaluate`` returns. They load on first use, so ``import clapbench`` stays light.
"""

__version__ = "0.1.0"

__all__ = ["Results", "ResultRecord", "compare", "evaluate", "leaderboard", "tasks", "__version__"]


def __getattr__(name: str):
    if name in ("evaluate", "leaderboard", "compare", "tasks"):
        from clapbench import api

        return getattr(api, name)
    if name == "Results":
        from clapbench.results.run_results import Results

        return Results
    if name == "ResultRecord":
        from clapbench.results.record import ResultRecord

        return ResultRecord
    raise AttributeError(f"module 'clapbench' has no attribute {name!r}")
