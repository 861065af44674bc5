"""Output of the ``nano`` client: tables, fields or raw JSON."""

import json

import click


def print_json(data) -> None:
    """Print ``data`` as indented JSON, the API's ``data`` unchanged."""
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(_cell(item) for item in value)
    return "" if value is None else str(value)


def print_table(rows, columns, empty: str) -> None:
    """
    Print ``rows`` (dicts) as a table of ``columns``, each a key or a
    ``(heading, key)`` pair, or ``empty`` when there are no rows.
    """
    if not rows:
        click.echo(empty)
        return
    columns = [(c, c) if isinstance(c, str) else c for c in columns]
    lines = [[heading.upper() for heading, _ in columns]]
    lines += [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    for line in lines:
        padded = [
            text.ljust(width) for text, width in zip(line, widths, strict=True)
        ]
        click.echo("  ".join(padded).rstrip())


def print_fields(data: dict) -> None:
    """Print one object as ``key: value`` lines, keys in their order."""
    width = max((len(key) for key in data), default=0)
    for key, value in data.items():
        click.echo(f"{key.ljust(width)}  {_cell(value)}")
