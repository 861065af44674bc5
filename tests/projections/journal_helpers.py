"""
A real journal (real files, fsync) driven synchronously, for unit tests.

The journal's writes run in the calling thread instead of its writer
thread, and its reactor is a :class:`Clock`: :func:`settle` runs the
pending flush, so appends are acknowledged without a running reactor.
"""

from twisted.internet.defer import fail, succeed
from twisted.internet.task import Clock

from nano.events._journal import open_journal


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
    """Open the journal in ``directory`` with a Clock as its reactor."""
    return open_journal(
        directory, registry, Clock(), SynchronousThread(), segment_bytes
    )


def settle(journal):
    """Run the journal's scheduled flushes, writing pending appends."""
    journal._reactor.advance(0)


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
