"""
The blocking half of the journal: writing batches to segment files.

Only the journal's writer thread calls a :class:`SegmentWriter`, so it
needs no locking of its own.
"""

import os
from pathlib import Path

from ._errors import JournalWriteError
from ._files import fsync_directory, write_all
from ._lines import segment_name

_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class SegmentWriter:
    """
    The active segment: appends whole batches with one write and one
    ``fdatasync``, and starts a new segment when a batch would take the
    current one past ``segment_bytes``.

    A batch is never split across segments. The journal keeps batches
    within ``segment_bytes``, so only a single line longer than that makes
    a segment exceed it.
    """

    def __init__(
        self,
        directory: Path,
        segment_bytes: int,
        path: Path | None = None,
    ):
        self._directory = directory
        self.segment_bytes = segment_bytes
        self._path = path
        self._fd = None
        self._size = 0
        if path is not None:
            self._fd = os.open(path, _APPEND, 0o644)
            self._size = os.fstat(self._fd).st_size

    def write(self, first_seq: int, data: bytes) -> None:
        """
        Append ``data``, the lines from ``first_seq`` on, and sync it.

        :raises JournalWriteError: the write or the sync failed; a best
            effort was made to cut the file back to its previous size.
        """
        try:
            if self._needs_new_segment(len(data)):
                self._start_segment(first_seq)
            write_all(self._fd, data)
            os.fdatasync(self._fd)
        except OSError as error:
            self._cut_back()
            raise JournalWriteError(
                self._path or self._directory, error
            ) from error
        self._size += len(data)

    def close(self) -> None:
        """Close the active segment's file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _needs_new_segment(self, length: int) -> bool:
        if self._fd is None:
            return True
        return self._size > 0 and self._size + length > self.segment_bytes

    def _start_segment(self, first_seq: int) -> None:
        self.close()
        self._path = self._directory / segment_name(first_seq)
        self._fd = os.open(self._path, _APPEND, 0o644)
        self._size = 0
        fsync_directory(self._directory)

    def _cut_back(self) -> None:
        """
        Remove a partly written batch, so that a failed append does not
        reappear after a restart. Recovery handles what this cannot.
        """
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._size)
            os.fsync(self._fd)
        except OSError:
            pass
