"""Aligned text tables for readable output."""

from collections.abc import Sequence


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right=()
) -> str:
    """
    Return the rows as text columns separated by two spaces, with a
    header line. The last column is not padded, so long values (event
    data) do not widen the others. Characters that are not printable
    (newlines, terminal escapes) are shown as Python escapes such as
    ``\\n``, so each row is one line, whatever the journal contains.

    :param right: indexes of the columns to align right (numbers).
    """
    texts = [[_cell_text(value) for value in row] for row in [headers, *rows]]
    widths = [
        max(len(row[index]) for row in texts) for index in range(len(headers))
    ]
    lines = [_format_row(row, widths, right) for row in texts]
    return "\n".join(lines) + "\n"


def _cell_text(value) -> str:
    text = str(value)
    if text.isprintable():
        return text
    return "".join(_escape(character) for character in text)


def _escape(character: str) -> str:
    if character.isprintable():
        return character
    return repr(character)[1:-1]


def _format_row(row, widths, right) -> str:
    cells = []
    for index, text in enumerate(row):
        if index == len(row) - 1:
            cells.append(text)
        elif index in right:
            cells.append(text.rjust(widths[index]))
        else:
            cells.append(text.ljust(widths[index]))
    return "  ".join(cells).rstrip()
