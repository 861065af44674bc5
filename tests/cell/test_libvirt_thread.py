"""Tests for :class:`nano.cell.libvirt.LibvirtThread`."""

import subprocess
import sys
import textwrap

import pytest
import pytest_twisted
from twisted.internet import reactor

from nano.cell.libvirt import LibvirtThread

# A program that starts a thread, never stops it, and stops the reactor.
FORGOTTEN_STOP = textwrap.dedent(
    """
    from twisted.internet import reactor
    from nano.cell.libvirt import LibvirtThread

    thread = LibvirtThread(reactor)
    thread.start()
    thread.run(lambda: 42).addCallback(print)
    reactor.callLater(0.1, reactor.stop)
    reactor.run()
    """
)


@pytest.mark.slow
def test_exits_without_stop():
    """A process whose thread was never stopped still exits."""
    finished = subprocess.run(
        [sys.executable, "-c", FORGOTTEN_STOP],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == "42\n"


@pytest_twisted.ensureDeferred
async def test_errors_reach_caller():
    """An exception raised on the thread fails the Deferred."""
    thread = LibvirtThread(reactor)
    thread.start()
    try:
        with pytest.raises(ZeroDivisionError):
            await thread.run(lambda: 1 / 0)
    finally:
        thread.stop()


def test_stop_twice():
    """Stopping a stopped thread does nothing."""
    thread = LibvirtThread(reactor)
    thread.start()
    thread.stop()
    thread.stop()
