"""
Append events to a journal as fast as possible, for the crash test.

Usage: ``python _crash_child.py DIRECTORY SEGMENT_BYTES``

Prints ``ready LAST_SEQ`` once the journal is open (and recovered), then
one line ``SEQ APPENDER COUNTER`` for each acknowledged event, flushed at
once, until it is killed.
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from nano.events import Event, EventRegistry, Journal, utc_time

APPENDERS = 50

registry = EventRegistry()


@registry.event("CrashProbe")
class CrashProbe(Event):
    appender: int
    counter: int


def start_appender(reactor, journal, output, appender):
    """Append, wait for the acknowledgement, report it, repeat."""
    counter = 0

    def append():
        event = CrashProbe(
            aggregate_id=f"appender-{appender}",
            time=utc_time(reactor.seconds()),
            appender=appender,
            counter=counter,
        )
        journal.append(event).addCallback(acknowledged)

    def acknowledged(seq):
        nonlocal counter
        output.write(f"{seq} {appender} {counter}\n")
        output.flush()
        counter += 1
        append()

    append()


def main(reactor, directory, segment_bytes):
    journal = Journal.open(
        directory, registry, reactor, segment_bytes=int(segment_bytes)
    )
    sys.stdout.write(f"ready {journal.last_seq}\n")
    sys.stdout.flush()
    for appender in range(APPENDERS):
        start_appender(reactor, journal, sys.stdout, appender)
    return Deferred()


if __name__ == "__main__":
    react(main, sys.argv[1:])
