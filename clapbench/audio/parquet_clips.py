"""Clips stored inside parquet files, as HuggingFace datasets store an Audio column.

A clip is addressed by a plain string, ``FILE.parquet#ROW`` (``FILE.parquet#COLUMN:ROW`` when the
audio column is not named ``audio``), so it travels to loader worker processes like a file path and
names its row in per-clip predictions. The cell is datasets' ``{"bytes": ..., "path": ...}``
struct or plain binary; the bytes are an encoded file (wav, flac, mp3, ...) that soundfile decodes.

A worker reads a whole row group at a time (parquet's unit of reading) and keeps the last one,
since the loader asks for rows in order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from clapbench.errors import DataError
from clapbench.optional import require

DEFAULT_COLUMN = "audio"
_REF = re.compile(r"^(?P<file>.+\.parquet)#(?:(?P<column>[^:#/]+):)?(?P<row>\d+)$")


@dataclass(frozen=True)
class ParquetClip:
    file: str
    row: int
    column: str = DEFAULT_COLUMN


def clip_ref(file: str, row: int, column: str = DEFAULT_COLUMN) -> str:
    return f"{file}#{row}" if column == DEFAULT_COLUMN else f"{file}#{column}:{row}"


def parse_clip_ref(path: str) -> ParquetClip | None:
    """The clip a reference names, or None when ``path`` is not a parquet reference."""
    match = _REF.match(path)
    if match is None:
        return None
    return ParquetClip(match["file"], int(match["row"]), match["column"] or DEFAULT_COLUMN)


@lru_cache(maxsize=16)
def _open(file: str, mtime_ns: int, size: int):
    """(ParquetFile, first row of each row group); keyed by mtime and size so a rewritten file is reopened."""
    pq = require("pyarrow.parquet")
    try:
        handle = pq.ParquetFile(file)
    except Exception as exc:
        raise DataError(f"{file}: cannot read as parquet ({exc})") from None
    sizes = [handle.metadata.row_group(g).num_rows for g in range(handle.num_row_groups)]
    return handle, np.cumsum([0, *sizes])


_last_group: tuple[tuple, object] | None = None


def read_clip_bytes(clip: ParquetClip) -> bytes:
    """The encoded audio file held in one row's audio cell."""
    global _last_group
    ref = clip_ref(clip.file, clip.row, clip.column)
    try:
        stat = os.stat(clip.file)
    except OSError:
        raise DataError(f"{clip.file}: parquet file not found (clip {ref})") from None
    handle, starts = _open(clip.file, stat.st_mtime_ns, stat.st_size)
    if clip.row >= starts[-1]:
        raise DataError(f"{ref}: the file has only {starts[-1]} rows")
    group = int(np.searchsorted(starts, clip.row, side="right") - 1)
    key = (clip.file, stat.st_mtime_ns, clip.column, group)
    if _last_group is None or _last_group[0] != key:
        if clip.column not in handle.schema_arrow.names:
            raise DataError(f"{clip.file}: no column '{clip.column}'; found {', '.join(handle.schema_arrow.names)}")
        try:
            column = handle.read_row_group(group, columns=[clip.column]).column(0).combine_chunks()
        except Exception as exc:
            raise DataError(f"{clip.file}: cannot read row group {group} ({exc})") from None
        _last_group = (key, column)
    cell = _last_group[1][clip.row - int(starts[group])]
    return cell_bytes(cell.as_py(), ref)


def cell_bytes(value, ref: str) -> bytes:
    """The bytes of an audio cell: datasets' {"bytes", "path"} struct, or plain binary."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if not data:
            named = f" (the row names '{value.get('path')}' but holds no bytes)" if value.get("path") else ""
            raise DataError(f"{ref}: no audio bytes{named}; expected the audio embedded in the parquet file")
        return data
    if isinstance(value, (bytes, bytearray)) and value:
        return bytes(value)
    raise DataError(f"{ref}: audio cell is {type(value).__name__}; expected encoded audio bytes")
