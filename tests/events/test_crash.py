"""
Crash test with real processes: a child appends as fast as it can and is
killed with SIGKILL at random moments. No acknowledged event may be lost.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from nano.events import Event, EventRegistry, read_lines, verify
from nano.events._journal import open_journal

CHILD = Path(__file__).with_name("_crash_child.py")
ROUNDS = 20
# Rounds per journal: each journal goes through several kills and
# recoveries, and the checks after each round stay quick because journals
# stay small.
ROUNDS_PER_JOURNAL = 5
# Small segments, so that kills also land around rotations.
SEGMENT_BYTES = 256 * 1024

registry = EventRegistry()


@registry.event("CrashProbe")
class CrashProbe(Event):
    appender: int
    counter: int


class InlineThread:
    """Runs the writer's work at once, on the calling thread."""

    def run(self, function, *args):
        return maybeDeferred(function, *args)

    def stop(self):
        pass


class Child:
    """The appending child process, with its stdout read by a thread."""

    def __init__(self, directory: Path, stderr_path: Path):
        self._stderr = stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), str(directory), str(SEGMENT_BYTES)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.lines: list[bytes] = []
        # Set at the first acknowledgement (or at EOF, if the child died).
        self.appending = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)
            if len(self.lines) > 1:
                self.appending.set()
        self.appending.set()

    def kill(self) -> list[bytes]:
        """SIGKILL the child; return every complete line it printed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reader.join()
        self.process.stdout.close()
        self._stderr.close()
        return [line for line in self.lines if line.endswith(b"\n")]


def parse_output(lines):
    """Split the child's output into its starting seq and its acks."""
    ready, *acks = lines
    words = ready.split()
    assert words[0] == b"ready", lines[:3]
    acknowledged = {}
    for line in acks:
        seq, appender, counter = map(int, line.split())
        acknowledged[seq] = (appender, counter)
    return int(words[1]), acknowledged


def recover_and_replay(directory):
    """Open (recovering) the journal, replay it, close it."""
    journal = open_journal(
        directory, registry, Clock(), InlineThread(), SEGMENT_BYTES
    )
    try:
        events = list(journal.read())
        return journal.last_seq, events
    finally:
        journal.close()


def run_round(directory, stderr_path, rng):
    child = Child(directory, stderr_path)
    started = child.appending.wait(timeout=30)
    assert started, "no acknowledgement within 30 s"
    time.sleep(rng.uniform(0.02, 0.25))
    assert child.process.poll() is None, stderr_path.read_text()
    return parse_output(child.kill())


@pytest.mark.slow
def test_sigkill_loses_nothing_acknowledged(tmp_path):
    """
    Over 20 rounds of append-and-SIGKILL, every acknowledged event is in
    the journal with its content, the journal verifies, and replay works.
    """
    seed = int(os.environ.get("NANO_CRASH_SEED", time.time()))
    rng = random.Random(seed)

    for round_number in range(ROUNDS):
        if round_number % ROUNDS_PER_JOURNAL == 0:
            directory = tmp_path / f"journal-{round_number}"
            acknowledged = {}
        context = f"round {round_number}, NANO_CRASH_SEED={seed}"
        start_seq, acks = run_round(directory, tmp_path / "stderr", rng)
        assert start_seq >= max(acknowledged, default=0), context
        acknowledged.update(acks)

        last_seq, events = recover_and_replay(directory)
        assert [seq for seq, _ in events] == list(range(1, last_seq + 1))
        stored = {seq: (e.appender, e.counter) for seq, e in events}
        lost = {s: v for s, v in acknowledged.items() if stored.get(s) != v}
        assert lost == {}, context
        assert verify(directory, registry) == [], context

        assert len(acks) > 0, context

    assert len(list(directory.glob("journal-*.jsonl"))) > 1
    assert sum(1 for _ in read_lines(directory)) >= len(acknowledged)
