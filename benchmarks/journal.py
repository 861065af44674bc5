"""
Benchmark the journal: durable appends, acknowledgement latency, replay,
and start-up from a snapshot, beside the disk's own limit.

Usage: ``.venv/bin/python benchmarks/journal.py [--quick] [--json FILE]
[--directory DIR]``

Every append scenario records the batches that group commit produced.
The same bytes, in the same batch sizes, are then written with plain
``os.write`` + ``os.fdatasync``: that is the physical limit our figure
is compared to. Results go to stdout as a table, and to ``--json``.
"""

import argparse
import gc
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from twisted.internet.defer import (
    Deferred,
    ensureDeferred,
    gatherResults,
    maybeDeferred,
)
from twisted.internet.task import Clock, LoopingCall, react

from nano.events import Journal, utc_time
from nano.events._journal import open_journal
from nano.events.core import (
    CORE_EVENTS,
    ComputePoolCreated,
    ComputePoolModified,
)
from nano.projections import CoreProjection, compact, fold, load

POOLS = 100


def make_events(count: int, start: int = 0) -> list:
    """
    Return ``count`` Core events for 100 compute pools: each pool's
    creation, then modifications, so that the state stays small.
    """
    events = []
    for index in range(start, start + count):
        pool = f"pool-{index % POOLS:03d}"
        common = {
            "aggregate_id": pool,
            "time": utc_time(1_796_000_000 + index / 1000),
            "task_id": f"task-{index:08d}",
        }
        if index < POOLS:
            events.append(ComputePoolCreated(**common, storage="nfs-1"))
        else:
            events.append(
                ComputePoolModified(
                    **common,
                    storage="nfs-1",
                    network=f"net-{index % 7}",
                    failover=index % 2 == 0,
                    enabled=True,
                )
            )
    return events


class RecordingWriter:
    """Wraps the journal's segment writer to keep every batch it wrote."""

    def __init__(self, writer):
        self._writer = writer
        self.batches: list[bytes] = []

    def write(self, first_seq: int, data: bytes) -> None:
        self._writer.write(first_seq, data)
        self.batches.append(data)

    def close(self) -> None:
        self._writer.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_summary(latencies: list[float]) -> dict:
    return {
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def open_recording(reactor, directory: Path):
    journal = Journal.open(directory, CORE_EVENTS, reactor)
    # Reaching into the journal is fine for a benchmark: it needs the
    # exact batches for the raw write + fdatasync comparison.
    recorder = RecordingWriter(journal._writer)
    journal._writer = recorder
    return journal, recorder


async def closed_loop(reactor, directory, appenders, duration, events):
    """
    Run ``appenders`` loops that each append, wait for the acknowledgement
    and append again, for ``duration`` seconds.
    """
    journal, recorder = open_recording(reactor, directory)
    latencies = []
    clock = time.perf_counter
    stop_at = clock() + duration

    def appender(offset):
        done = Deferred()
        position = [offset]

        def send():
            if clock() >= stop_at:
                done.callback(None)
                return
            event = events[position[0] % len(events)]
            position[0] += appenders
            journal.append(event).addCallback(acknowledged, clock())

        def acknowledged(_, started):
            latencies.append(clock() - started)
            send()

        send()
        return done

    started = clock()
    await gatherResults([appender(i) for i in range(appenders)])
    elapsed = clock() - started
    await journal.close()
    return {
        "appenders": appenders,
        "events": len(latencies),
        "events_per_s": len(latencies) / elapsed,
        **latency_summary(latencies),
        "batches": len(recorder.batches),
        "mean_batch": len(latencies) / max(1, len(recorder.batches)),
    }, recorder.batches


async def paced(reactor, directory, rate, duration, events):
    """Append at a steady ``rate`` per second; measure latency."""
    journal, recorder = open_recording(reactor, directory)
    latencies = []
    clock = time.perf_counter
    start = clock()
    sent = [0]

    def tick():
        now = clock()
        if now - start >= duration:
            loop.stop()
            return
        due = int((now - start) * rate)
        while sent[0] < due:
            event = events[sent[0] % len(events)]
            journal.append(event).addCallback(acknowledged, clock())
            sent[0] += 1

    def acknowledged(_, started):
        latencies.append(clock() - started)

    loop = LoopingCall(tick)
    loop.clock = reactor
    await loop.start(0.001)
    await journal.close()
    elapsed = clock() - start
    return {
        "rate_target": rate,
        "events": len(latencies),
        "events_per_s": len(latencies) / elapsed,
        **latency_summary(latencies),
        "batches": len(recorder.batches),
        "mean_batch": len(latencies) / max(1, len(recorder.batches)),
    }, recorder.batches


def raw_ceiling(directory: Path, batches: list[bytes]) -> dict:
    """Write the same batches with os.write + os.fdatasync only."""
    path = directory / "raw.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    lines = sum(batch.count(b"\n") for batch in batches)
    latencies = []
    started = time.perf_counter()
    for batch in batches:
        before = time.perf_counter()
        os.write(fd, batch)
        os.fdatasync(fd)
        latencies.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    os.close(fd)
    path.unlink()
    return {
        "events_per_s": lines / elapsed,
        "batch_p50_ms": percentile(latencies, 0.5) * 1000,
        "batch_p99_ms": percentile(latencies, 0.99) * 1000,
    }


def build_history(directory: Path, count: int, batch: int = 10_000) -> None:
    """
    Append ``count`` events through the journal, in batches, with the
    writes run inline (no reactor), to build a long history quickly.
    """
    clock = Clock()
    thread = _InlineThread()
    journal = open_journal(directory, CORE_EVENTS, clock, thread, 64 * 2**20)
    written = journal.last_seq
    while written < count:
        size = min(batch, count - written)
        for event in make_events(size, start=written):
            journal.append(event)
        clock.advance(0)
        written += size
    journal.close()


class _InlineThread:
    def run(self, function, *args):
        return maybeDeferred(function, *args)

    def stop(self):
        pass


def replay(directory: Path) -> dict:
    """
    Read and decode every event through Journal.read, then do it again
    folding them into Core's projection, as start-up with no snapshot does.
    """
    journal = open_journal(
        directory, CORE_EVENTS, Clock(), _InlineThread(), 64 * 2**20
    )
    started = time.perf_counter()
    count = sum(1 for _ in journal.read())
    decoded = time.perf_counter()
    projected = fold(CoreProjection(), journal.read())
    folded = time.perf_counter()
    journal.close()
    assert projected.position == count, projected.position
    return {
        "events": count,
        "events_per_s": count / (decoded - started),
        "folded_events_per_s": count / (folded - decoded),
    }


def start_up(directory: Path, history: int, tail: int) -> dict:
    """
    Snapshot at ``history - tail`` events, then time opening the journal
    and loading the projection (snapshot + tail replay).
    """
    build_history(directory, history - tail)
    journal = open_journal(
        directory, CORE_EVENTS, Clock(), _InlineThread(), 64 * 2**20
    )
    compact(CoreProjection(), journal)
    journal.close()
    build_history(directory, history)

    started = time.perf_counter()
    journal = open_journal(
        directory, CORE_EVENTS, Clock(), _InlineThread(), 64 * 2**20
    )
    opened = time.perf_counter()
    projected = load(CoreProjection(), journal)
    loaded = time.perf_counter()
    journal.close()
    assert projected.position == history, projected.position
    return {
        "history": history,
        "tail": tail,
        "open_s": opened - started,
        "load_s": loaded - opened,
        "total_s": loaded - started,
        "segments": len(list(directory.glob("journal-*.jsonl"))),
    }


def machine() -> dict:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def filesystem(directory: Path) -> str:
    result = subprocess.run(
        ["df", "--output=source,fstype", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    return " ".join(result.stdout.split()[2:]) or "unknown"


def settle() -> None:
    """
    Collect garbage and freeze what survives, as a long-running daemon
    does after start-up, so that a full collection of start-up objects
    does not land inside a latency measurement.
    """
    gc.collect()
    gc.freeze()


async def append_scenarios(reactor, root: Path, args) -> dict:
    events = make_events(1000, start=POOLS)
    results = {"closed_loop": [], "paced": []}
    for appenders in (1, 10, 1000):
        directory = root / f"appenders-{appenders}"
        settle()
        outcome, batches = await closed_loop(
            reactor, directory, appenders, args.duration, events
        )
        outcome["raw"] = raw_ceiling(directory, batches)
        outcome["ratio"] = (
            outcome["events_per_s"] / outcome["raw"]["events_per_s"]
        )
        results["closed_loop"].append(outcome)
        shutil.rmtree(directory)
    directory = root / "paced"
    settle()
    outcome, batches = await paced(
        reactor, directory, 10_000, args.duration, events
    )
    outcome["raw"] = raw_ceiling(directory, batches)
    results["paced"].append(outcome)
    shutil.rmtree(directory)
    return results


def print_report(results: dict) -> None:
    info = results["machine"]
    print(
        f"machine: {info['nproc']} CPUs, {info['cpu']}, Python "
        f"{info['python']}, kernel {info['kernel']}, disk {info['disk']}"
    )
    print()
    print(
        "appenders  events/s  p50 ms  p99 ms  mean batch  raw events/s  ratio"
    )
    for row in results["closed_loop"]:
        print(
            f"{row['appenders']:>9}  {row['events_per_s']:>8.0f}  "
            f"{row['p50_ms']:>6.2f}  {row['p99_ms']:>6.2f}  "
            f"{row['mean_batch']:>10.1f}  "
            f"{row['raw']['events_per_s']:>12.0f}  {row['ratio']:>5.2f}"
        )
    for row in results["paced"]:
        print(
            f"\npaced {row['rate_target']} events/s: achieved "
            f"{row['events_per_s']:.0f}/s, p50 {row['p50_ms']:.2f} ms, "
            f"p99 {row['p99_ms']:.2f} ms, max {row['max_ms']:.2f} ms, "
            f"mean batch {row['mean_batch']:.1f} (raw write+fdatasync "
            f"of those batches: p50 {row['raw']['batch_p50_ms']:.2f} ms, "
            f"p99 {row['raw']['batch_p99_ms']:.2f} ms)"
        )
    row = results["replay"]
    print(
        f"\nreplay: {row['events']} events, {row['events_per_s']:.0f} "
        "events/s (Journal.read, decoded); "
        f"{row['folded_events_per_s']:.0f} events/s folded into Core's "
        "projection"
    )
    row = results["start_up"]
    print(
        f"start-up: {row['history']} events of history, snapshot "
        f"{row['tail']} events before the end: open {row['open_s']:.3f} s"
        f" + load {row['load_s']:.3f} s = {row['total_s']:.3f} s "
        f"({row['segments']} segments)"
    )


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 s per append scenario and 100,000 events of history, "
        "instead of 5 s and 1,000,000",
    )
    parser.add_argument("--json", help="also write the results to FILE")
    parser.add_argument(
        "--directory",
        help="where to put the journals (default: a new temporary "
        "directory; it must be on the disk under test)",
    )
    args = parser.parse_args(argv)
    args.duration = 1.0 if args.quick else 5.0
    args.history = 100_000 if args.quick else 1_000_000
    return args


def main(reactor, argv):
    args = parse_arguments(argv)
    root = Path(
        tempfile.mkdtemp(prefix="nano-journal-bench-", dir=args.directory)
    )
    return ensureDeferred(_main(reactor, args, root))


async def _main(reactor, args, root: Path):
    results = {"machine": {**machine(), "disk": filesystem(root)}}
    try:
        results.update(await append_scenarios(reactor, root, args))
        history = root / "history"
        results["start_up"] = start_up(history, args.history, 10_000)
        results["replay"] = replay(history)
    finally:
        shutil.rmtree(root)
    print_report(results)
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps(results, option=orjson.OPT_INDENT_2)
        )


if __name__ == "__main__":
    react(main, [sys.argv[1:]])
