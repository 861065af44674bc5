"""Sizes on the command line: ``256M``, ``1G``, ``1.5G`` or bytes."""

import re

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """
    Return a size in bytes. Units are powers of 1024: ``K``, ``M``,
    ``G`` and ``T``, optionally followed by ``B`` or ``iB``; a number
    with no unit is bytes.

    :raises ValueError: naming the value and the accepted forms.
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"invalid size {text!r}: expected bytes or a number with K, M, "
            "G or T (powers of 1024), e.g. 256M or 1G"
        )
    number, unit = match.groups()
    size = float(number) * _UNITS[unit.upper()]
    if size != int(size):
        raise ValueError(
            f"invalid size {text!r}: it is not a whole number of bytes; "
            "use a smaller unit, e.g. 1536M for 1.5G"
        )
    return int(size)


def format_size(size: int) -> str:
    """Return ``size`` bytes in the largest unit that keeps it >= 1."""
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.4g}{unit}iB"
    return f"{size} B"
