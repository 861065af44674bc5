"""Step reports and errors of the quick start."""

import sys
import time

import click


class QuickstartError(Exception):
    """A failed step; the message names what failed and the fix."""


class Steps:
    """
    Numbered step lines (``[3/11] Start Core ... done (1.2 s)``) on
    standard output, flushed at once so that a pipe shows progress.

    :param total: the number of steps of the run.
    """

    def __init__(self, total: int):
        self.total = total
        self.number = 0
        self._started = None

    def begin(self, title: str) -> None:
        """Print the next step's title."""
        self.number += 1
        self._started = time.monotonic()
        click.echo(f"[{self.number}/{self.total}] {title}")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        """Print a detail of the current step."""
        click.echo(f"      {text}")
        sys.stdout.flush()

    def end(self, result: str = "done") -> None:
        """Print how the current step ended and how long it took."""
        elapsed = time.monotonic() - self._started
        self.note(f"{result} ({elapsed:.1f} s)")


def wait_for(check, timeout: float, what: str, interval: float = 0.5):
    """
    Call ``check`` until it returns a true value, and return that.

    :raises QuickstartError: after ``timeout`` seconds, naming ``what``.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise QuickstartError(f"timed out after {timeout:g} s: {what}")
        time.sleep(interval)
