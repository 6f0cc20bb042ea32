"""Helpers shared by the caption-table readers (Clotho, AudioCaps); registers no reader."""

from __future__ import annotations

from pathlib import Path


def csv_encoding(path: Path) -> str:
    """UTF-8 (a BOM allowed), else ISO-8859-1: some Clotho copies, and code reading them, use Latin-1.

    ISO-8859-1 decodes any byte sequence, so the fallback never fails; a missing file is left to
    ``read_table`` to report.
    """
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return "ISO-8859-1"
    except OSError:
        return "utf-8"
    return "utf-8-sig"


def clean_captions(cells) -> tuple[str, ...]:
    """Captions with surrounding whitespace removed; empty cells dropped."""
    return tuple(text for text in (str(c).strip() for c in cells) if text)
