"""Sizes given on the ``nano`` command line."""

import pytest

from nano.cli._sizes import format_size, parse_size

MIB = 1024**2
GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256M", 256 * MIB),
        ("1G", GIB),
        ("1g", GIB),
        ("1GiB", GIB),
        ("1GB", GIB),
        ("1.5G", 3 * GIB // 2),
        ("4096", 4096),
        ("2T", 2 * 1024**4),
        ("64K", 64 * 1024),
        (" 8M ", 8 * MIB),
    ],
)
def test_size_parsed(text, expected):
    """Sizes with a unit are powers of 1024; a bare number is bytes."""
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "M", "1X", "-1G", "1.5", "one", "1 G B"])
def test_invalid_size_named(text):
    """An invalid size is rejected with the value and an example."""
    with pytest.raises(ValueError) as raised:
        parse_size(text)
    assert repr(text) in str(raised.value)
    assert "e.g." in str(raised.value)


def test_size_formatted():
    """Formatted sizes use the largest unit that keeps them at least 1."""
    assert format_size(256 * MIB) == "256MiB"
    assert format_size(3 * GIB // 2) == "1.5GiB"
    assert format_size(100) == "100 B"
