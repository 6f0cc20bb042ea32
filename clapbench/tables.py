"""Print a table whole: a rich table on a terminal, plain aligned rows when the output is a pipe or a file.

Nothing is ever cut: on a terminal, cells too wide for the window wrap (long model ids fold across lines
instead of ending in '…'); elsewhere each row is one line, whatever its length, so grep and awk see whole names.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text


def print_table(console: Console, table: Table) -> None:
    if console.is_terminal:
        for column in table.columns:
            column.overflow = "fold"
            column.no_wrap = False
        console.print(table)
        return
    console.print(plain_table(table), markup=False, highlight=False, soft_wrap=True)


def plain_table(table: Table) -> str:
    """The table as text: its title, then a header line and one line per row, columns two spaces apart."""
    headers = [_plain(c.header).replace("\n", "/") for c in table.columns]
    columns = [[_plain(cell).replace("\n", " ") for cell in c.cells] for c in table.columns]
    rows = list(zip(*columns)) if columns else []
    widths = [max([len(h) for h in [headers[i]]] + [len(r[i]) for r in rows]) for i in range(len(headers))]
    right = [c.justify == "right" for c in table.columns]

    def line(cells) -> str:
        return "  ".join(cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(cells, widths, right)).rstrip()

    out = [_plain(table.title)] if table.title else []
    if table.show_header:
        out.append(line(headers))
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Text):
        return value.plain
    return Text.from_markup(str(value)).plain
