"""Tables print whole: folded on a narrow terminal, one plain line per row in a pipe."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from clapbench.tables import print_table

LONG = "tiny-clap-untrained-with-a-model-id-longer-than-any-column"


def _board() -> Table:
    table = Table(title="leaderboard (main metric, %)")
    table.add_column("model")
    for col in ("sound-events\nesc50", "retrieval\nclotho", "music\ngtzan-genres", "speech\ncrema-d", "mean"):
        table.add_column(col, justify="right")
    table.add_row(LONG, "61.36", "20.91", "[red]missing[/]", "12.50", "40.12 [yellow](incomplete)[/]")
    table.add_row("short", "8.00", "4.50", "10.00", "11.00", "8.38")
    return table


def test_a_pipe_gets_one_plain_line_per_row_with_whole_names():
    out = io.StringIO()
    print_table(Console(file=out, width=80), _board())  # a StringIO is no terminal
    lines = out.getvalue().splitlines()
    assert lines[0] == "leaderboard (main metric, %)"
    assert lines[1].split() == ["model", "sound-events/esc50", "retrieval/clotho", "music/gtzan-genres", "speech/crema-d", "mean"]
    assert lines[2].split() == [LONG, "61.36", "20.91", "missing", "12.50", "40.12", "(incomplete)"]
    assert lines[3].split()[0] == "short" and len(lines) == 4
    assert not any(ch in out.getvalue() for ch in "│┃…") and "[red]" not in out.getvalue()
    # columns line up: the last column is right-aligned, so every line ends at the same place
    assert len({len(line) for line in lines[1:]}) == 1


def test_a_narrow_terminal_folds_long_names_instead_of_cutting_them():
    console = Console(width=80, force_terminal=True, color_system=None, record=True, file=io.StringIO())
    print_table(console, _board())
    text = console.export_text()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    first_cells = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    assert LONG in "".join(first_cells)  # the name's pieces, read down the column, are the whole name
