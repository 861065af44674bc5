"""Progress bars (tqdm, on standard error) for uploads and long tasks."""

import contextlib
import sys

from tqdm import tqdm


class _CountingReader:
    """A file whose reads advance a progress bar by the bytes read."""

    def __init__(self, stream, bar):
        self._stream = stream
        self._bar = bar

    def read(self, size=-1):
        block = self._stream.read(size)
        self._bar.update(len(block))
        return block


@contextlib.contextmanager
def upload_bar(stream, size: int, label: str, quiet: bool = False):
    """
    Yield ``stream`` wrapped so that reading it shows a progress bar of
    ``size`` bytes; ``quiet`` hides the bar.
    """
    with tqdm(
        total=size,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=quiet,
        file=sys.stderr,
    ) as bar:
        yield _CountingReader(stream, bar)


@contextlib.contextmanager
def percent_bar(label: str, quiet: bool = False):
    """Yield a function that moves a 0-100 % bar to a new percentage."""
    with tqdm(
        total=100,
        desc=label,
        unit="%",
        disable=quiet,
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}",
    ) as bar:

        def move(percent):
            bar.update(max(0, min(100, percent) - bar.n))

        yield move
