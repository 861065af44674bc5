"""
The journal: durable, ordered event appends with group commit.

Appends are numbered and encoded on the reactor thread. One writer thread
writes each batch with a single ``write`` and ``fdatasync``, and new
appends collect into the next batch meanwhile. The Deferreds fire on the
reactor thread, in sequence order, once their batch is on disk.
"""

import enum
from collections.abc import Callable, Iterator
from pathlib import Path

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from ._errors import (
    JournalClosedError,
    JournalFailedError,
    JournalWriteError,
)
from ._event import Event
from ._files import JournalLock, make_directories
from ._lines import encode_line
from ._recovery import recover
from ._registry import EventRegistry, RegistryError
from ._replay import read_events
from ._segment_writer import SegmentWriter

#: The maximum bytes of one write + fdatasync. A burst of appends is then
#: written in steps that segments can rotate between, and an append that
#: arrives during a long burst waits for one step rather than all of it.
MAX_BATCH_BYTES = 4 * 2**20


class _State(enum.Enum):
    IDLE = "idle"  # nothing to write
    SCHEDULED = "scheduled"  # a flush runs on the next reactor turn
    WRITING = "writing"  # a batch is with the writer thread
    CLOSING = "closing"  # close() waits for the last batches
    FAILED = "failed"  # a write failed: appends fail until restart
    CLOSED = "closed"


class WriterThread:
    """
    The single thread that runs every blocking write of one journal,
    started by the first write, so that a journal that fails to open
    leaves no thread behind.
    """

    def __init__(self, reactor):
        self._reactor = reactor
        self._pool = None
        self._trigger = None

    def run(self, function: Callable, *args) -> Deferred:
        """Call ``function(*args)`` in the thread; fire with its result."""
        if self._pool is None:
            self._pool = ThreadPool(1, 1, name="nano-journal-writer")
            self._pool.start()
            self._trigger = self._reactor.addSystemEventTrigger(
                "during", "shutdown", self._pool.stop
            )
        return deferToThreadPool(self._reactor, self._pool, function, *args)

    def stop(self) -> None:
        """Stop the thread once its work is done."""
        if self._pool is not None:
            self._reactor.removeSystemEventTrigger(self._trigger)
            self._pool.stop()
            self._pool = None


class Journal:
    """
    An append-only journal of events in one directory.

    Open it with :meth:`open`. Only one :class:`Journal` (in any process)
    has a directory open at a time: an flock on the directory enforces that.

    :ivar directory: the journal directory.
    :ivar registry: the event types it reads and writes.
    """

    log = Logger()

    def __init__(
        self,
        directory: Path,
        registry: EventRegistry,
        reactor,
        writer: SegmentWriter,
        thread,
        last_seq: int,
        lock: JournalLock,
    ):
        self.directory = directory
        self.registry = registry
        self._reactor = reactor
        self._writer = writer
        self._thread = thread
        self._lock = lock
        self._last_seq = last_seq
        self._next_seq = last_seq + 1
        self._state = _State.IDLE
        self._lines: list[bytes] = []
        self._waiting: list[Deferred] = []
        self._failure: JournalWriteError | None = None
        self._close_waiters: list[Deferred] = []
        self._batch_bytes = min(writer.segment_bytes, MAX_BATCH_BYTES)

    @classmethod
    def open(
        cls,
        directory,
        registry: EventRegistry,
        reactor=None,
        *,
        segment_bytes: int = 64 * 2**20,
    ) -> "Journal":
        """
        Open (or create) the journal in ``directory``, recovering it first.

        Recovery cuts a torn last line into a side file, with a warning.

        :param reactor: ``None`` for the global reactor, which only
            top-level code should use. A tool that only reads may pass a
            ``Clock``: the writer thread starts with the first write.
        :param segment_bytes: the size at which a new segment starts.
        :raises JournalCorruptError: damage that recovery must not cut,
            naming the file, line and repair command.
        :raises JournalLockedError: the journal is open elsewhere.
        :raises RegistryError: the registry lacks an upcaster.
        """
        if reactor is None:
            from twisted.internet import reactor
        return open_journal(
            directory, registry, reactor, WriterThread(reactor), segment_bytes
        )

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest event on disk, 0 if none."""
        return self._last_seq

    def append(self, event: Event) -> Deferred:
        """
        Append ``event``; the result fires with its sequence number once
        the event is on disk.

        :return: a Deferred that fails with :class:`RegistryError` for an
            unregistered event, :class:`TypeError` for a payload that is
            not JSON, :class:`JournalWriteError` when its batch could not
            be written, :class:`JournalFailedError` after an earlier write
            failure, and :class:`JournalClosedError` once :meth:`close`
            was called.
        """
        if self._state in (_State.FAILED, _State.CLOSING, _State.CLOSED):
            return fail(self._rejection())
        try:
            line = encode_line(self._next_seq, self.registry.encode(event))
        except (RegistryError, TypeError):
            # Unregistered, or a payload that is not JSON: no seq is used.
            return fail()
        self._next_seq += 1
        self._lines.append(line)
        acknowledged = Deferred()
        self._waiting.append(acknowledged)
        if self._state is _State.IDLE:
            self._state = _State.SCHEDULED
            self._reactor.callLater(0, self._flush)
        return acknowledged

    def read(self, after: int = 0) -> Iterator[tuple[int, Event]]:
        """
        Yield ``(seq, event)`` for the events on disk with seq > ``after``,
        in order, up to :attr:`last_seq` as it was when reading began.

        :raises ValueError: ``after`` is not an int >= 0.
        :raises JournalCorruptError: at a damaged line.
        :raises EventDecodeError: at an event the registry cannot decode.
        """
        if after.__class__ is not int or after < 0:
            raise ValueError(
                f"invalid journal position {after!r}: must be an int >= 0 "
                "(0 reads from the first event)"
            )
        return read_events(
            self.directory, self.registry, after, self._last_seq
        )

    def close(self) -> Deferred:
        """
        Close the journal once the appends already made are written.

        :return: a Deferred that fires with ``None`` when the files are
            closed and the lock is released.
        """
        if self._state is _State.CLOSED:
            return succeed(None)
        closed = Deferred()
        self._close_waiters.append(closed)
        if self._state in (_State.IDLE, _State.FAILED):
            self._finish_close()
        elif self._state is not _State.CLOSING:
            self._state = _State.CLOSING
        return closed

    def _rejection(self) -> Exception:
        if self._state is _State.FAILED:
            return JournalFailedError(self.directory, self._failure)
        return JournalClosedError(self.directory)

    def _flush(self) -> None:
        """Hand the oldest pending appends to the writer thread as a batch."""
        if not self._lines:
            if self._state is _State.CLOSING:
                self._finish_close()
            else:
                self._state = _State.IDLE
            return
        first_seq = self._next_seq - len(self._lines)
        count = _batch_length(self._lines, self._batch_bytes)
        lines, self._lines = self._lines[:count], self._lines[count:]
        waiting, self._waiting = self._waiting[:count], self._waiting[count:]
        if self._state is not _State.CLOSING:
            self._state = _State.WRITING
        written = self._thread.run(
            self._writer.write, first_seq, b"".join(lines)
        )
        written.addCallbacks(
            self._written,
            self._write_failed,
            callbackArgs=(first_seq, waiting),
            errbackArgs=(waiting,),
        )

    def _written(self, _, first_seq: int, waiting: list[Deferred]) -> None:
        self._last_seq = first_seq + len(waiting) - 1
        for seq, acknowledged in enumerate(waiting, first_seq):
            acknowledged.callback(seq)
        self._flush()

    def _write_failed(self, failure, waiting: list[Deferred]) -> None:
        error = failure.value
        if not isinstance(error, JournalWriteError):
            error = JournalWriteError(self.directory, OSError(str(error)))
        self.log.failure(
            "Journal write failed in {directory}; appends now fail",
            failure,
            directory=str(self.directory),
        )
        closing = self._state is _State.CLOSING
        self._state = _State.FAILED
        self._failure = error
        for acknowledged in waiting:
            acknowledged.errback(error)
        self._fail_pending()
        if closing:
            self._finish_close()

    def _fail_pending(self) -> None:
        waiting = self._waiting
        self._lines, self._waiting = [], []
        for acknowledged in waiting:
            acknowledged.errback(self._rejection())

    def _finish_close(self) -> None:
        """
        Close the files and stop the thread, with no write in flight.

        Closing a file descriptor does not block on the disk, so this
        runs on the reactor thread, and a journal that never wrote can be
        closed without a running reactor.
        """
        self._state = _State.CLOSED
        try:
            self._writer.close()
        finally:
            self._thread.stop()
            self._lock.release()
            waiters, self._close_waiters = self._close_waiters, []
            for closed in waiters:
                closed.callback(None)


def open_journal(
    directory, registry: EventRegistry, reactor, thread, segment_bytes: int
) -> Journal:
    """
    Open a journal whose writes run through ``thread``, an object with
    ``run(function, *args) -> Deferred`` and ``stop()``; see
    :meth:`Journal.open`.
    """
    if segment_bytes < 1:
        raise ValueError(
            f"invalid segment_bytes {segment_bytes}: must be at least 1"
        )
    directory = Path(directory)
    make_directories(directory)
    registry.check()
    lock = JournalLock(directory)
    try:
        last_seq, active = recover(directory)
        writer = SegmentWriter(directory, segment_bytes, active)
    except BaseException:
        lock.release()
        raise
    return Journal(
        directory, registry, reactor, writer, thread, last_seq, lock
    )


def _batch_length(lines: list[bytes], limit: int) -> int:
    """
    Return how many of the first ``lines`` fit in ``limit`` bytes, and at
    least one, because a line longer than the limit is written alone.
    """
    size = 0
    for count, line in enumerate(lines):
        size += len(line)
        if size > limit:
            return max(count, 1)
    return len(lines)
