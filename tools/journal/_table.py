"""Aligned text tables for readable output."""

from collections.abc import Sequence


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right=()
) -> str:
    """
    Return the rows as text columns separated by two spaces, with a
    header line. The last column is not padded, so long values (event
    data) do not widen the others.

    :param right: indexes of the columns to align right (numbers).
    """
    widths = [
        max(len(str(row[index])) for row in [headers, *rows])
        for index in range(len(headers))
    ]
    lines = [_format_row(row, widths, right) for row in [headers, *rows]]
    return "\n".join(lines) + "\n"


def _format_row(row, widths, right) -> str:
    cells = []
    for index, value in enumerate(row):
        text = str(value)
        if index == len(row) - 1:
            cells.append(text)
        elif index in right:
            cells.append(text.rjust(widths[index]))
        else:
            cells.append(text.ljust(widths[index]))
    return "  ".join(cells).rstrip()
