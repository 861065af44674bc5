"""The progress a guest's creation shows in GET /guests/<id>."""

from types import SimpleNamespace

import pytest

from nano.core.api.guests import progress
from nano.projections.guests import CREATED, CREATING


def guest(steps, auto_start=True, status=CREATING):
    return SimpleNamespace(steps=steps, auto_start=auto_start, status=status)


@pytest.mark.parametrize(
    ("steps", "auto_start", "expected"),
    [
        ((), True, 0),
        (("reserve",), False, 50),
        (("reserve", "create"), True, 66),
        (("reserve", "address"), True, 50),
        (("reserve", "address", "create"), True, 75),
        (("reserve", "address", "create"), False, 99),
    ],
)
def test_progress_counts_steps(steps, auto_start, expected):
    """Each step done counts, the address step too, below 100."""
    assert progress(guest(steps, auto_start)) == expected


def test_progress_of_created_guest():
    """A created guest is at 100 whatever its steps."""
    assert progress(guest(("reserve",), status=CREATED)) == 100
