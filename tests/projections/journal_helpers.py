"""
A real journal (real files, fsync) driven synchronously, for unit tests.

The journal's writes run in the calling thread instead of its writer
thread, and every test journal shares one :class:`Clock` as its reactor:
:func:`settle` runs the pending flushes, so appends are acknowledged
without a running reactor.
"""

from twisted.internet.defer import fail, succeed
from twisted.internet.task import Clock

from nano.events._journal import open_journal

CLOCK = Clock()


class SynchronousThread:
    """Run journal writes at once, in the calling thread."""

    def run(self, function, *args):
        try:
            return succeed(function(*args))
        except Exception:
            return fail()

    def stop(self):
        pass


def open_test_journal(directory, registry, segment_bytes=64 * 2**20):
    """Open the journal in ``directory`` with :data:`CLOCK` as reactor."""
    return open_journal(
        directory, registry, CLOCK, SynchronousThread(), segment_bytes
    )


def settle(journal):
    """Run the scheduled flushes, writing the journal's pending appends."""
    CLOCK.advance(0)


def append_all(journal, events):
    """Append events and wait for them; return their sequence numbers."""
    appended = [journal.append(event) for event in events]
    settle(journal)
    results = []
    for deferred in appended:
        deferred.addBoth(results.append)
    return results


def close(journal):
    """Close the journal and settle its last writes."""
    closed = journal.close()
    settle(journal)
    return closed
