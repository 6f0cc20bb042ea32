"""Reading a metadata table as strings, with or without a header line.

Official metadata files differ: ESC-50 has a header; FSD50K's vocabulary.csv, VGGSound's
vggsound.csv and the DCASE/TUT lists have none; AudioSet's csv files open with '#' comment lines
and separate fields with ', '. A layout states which (``header``, ``names``, ``sep``, ``comment``,
``skipinitialspace``) and this reads it the same way for every reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from clapbench.data.readers import read_table
from clapbench.errors import DataError


def read_delimited(path: Path, spec: dict[str, Any], columns: list[str], layout: str) -> pd.DataFrame:
    """A CSV/TSV as strings, with or without a header line (then ``names`` label its leading columns)."""
    kwargs: dict[str, Any] = {"sep": spec.get("sep", ",")}
    if spec.get("comment"):
        kwargs["comment"] = spec["comment"]
    if spec.get("skipinitialspace"):
        kwargs["skipinitialspace"] = True
    if str(spec.get("header", "first_line")).lower() not in ("none", "false"):
        return read_table(path, columns, layout, **kwargs)
    names = list(spec.get("names") or [])
    if not names:
        raise DataError(f"{path}: a headerless table needs 'names' for its columns in the task file")
    table = read_table(path, [], layout, header=None, **kwargs)
    if table.shape[1] < len(names):
        raise DataError(f"{path}: {table.shape[1]} column(s) per line; expected at least {len(names)} ({', '.join(names)})")
    table = table.iloc[:, : len(names)]
    table.columns = names
    absent = [c for c in columns if c not in names]
    if absent:
        raise DataError(f"task file: column(s) {', '.join(absent)} are not among the names given for {path.name} ({', '.join(names)})")
    return table
