"""
Benchmark address allocation: allocations per second through Core's
allocator, with every allocation synced to a real journal.

Usage: ``.venv/bin/python benchmarks/addresses.py [--count N]
[--taken K ...] [--json FILE]``

For each number of addresses already taken (``--taken``, 0 and 10,000
by default), in one /16 range of one address pool:

- **sequential**: ``Addresses.allocate`` for N instances, each call made
  once the previous one fired, so every allocation waits for its own
  fsync. Latency runs from the call to the Deferred firing.
- **concurrent**: N allocations requested at once. The allocator's
  lock runs them one at a time, so the journal writes them one by one
  too. The time is until the last one fired, and the check is that
  all N addresses differ.
- **choice**: ``next_free`` alone over the range with K addresses taken,
  which is the arithmetic without the journal.

The journal lives in a temporary directory under ``/var/tmp``, which is
removed afterwards.
"""

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

import orjson
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import react

from nano.core._address_ranges import IPv4Range, next_free
from nano.core._addresses import Addresses
from nano.events import Journal, utc_time
from nano.events.addresses import (
    AddressAllocated,
    AddressPoolCreated,
    AddressRangeAdded,
)
from nano.events.core import CORE_EVENTS
from nano.projections import CoreProjection, LiveProjection

POOL = "bench"
START = "10.213.0.1"
END = "10.213.255.254"
NETMASK = "255.255.0.0"
GATEWAY = "10.213.0.1"


def setup_events(now, taken: int) -> list:
    """Return the events of a pool with one /16 range and ``taken``
    allocations, the lowest addresses first."""
    time_ = utc_time(now)
    events = [
        AddressPoolCreated(
            aggregate_id=POOL,
            time=time_,
            gateway=GATEWAY,
            dns=[GATEWAY],
            provider="dhcp",
            mode="internal",
        ),
        AddressRangeAdded(
            aggregate_id=POOL,
            time=time_,
            range_type="internal",
            start=START,
            end=END,
            netmask=NETMASK,
        ),
    ]
    first = int(IPv4Address(START)) + 1
    events.extend(
        AddressAllocated(
            aggregate_id=POOL,
            time=time_,
            address=str(IPv4Address(first + number)),
            instance=f"taken-{number}",
        )
        for number in range(taken)
    )
    return events


async def prepared(reactor, directory: Path, taken: int):
    """Return a journal and allocator with ``taken`` addresses taken."""
    journal = Journal.open(directory, CORE_EVENTS, reactor)
    events = setup_events(reactor.seconds(), taken)
    await gatherResults([journal.append(event) for event in events])
    live = LiveProjection(CoreProjection(), journal)
    return journal, Addresses(live, reactor)


async def sequential(addresses, count: int) -> dict:
    latencies = []
    started = time.perf_counter()
    for number in range(count):
        before = time.perf_counter()
        await addresses.allocate(POOL, f"seq-{number}", "bench")
        latencies.append((time.perf_counter() - before) * 1000)
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "allocations_per_second": round(count / elapsed),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 2),
    }


async def concurrent(addresses, count: int) -> dict:
    started = time.perf_counter()
    networks = await gatherResults(
        [
            addresses.allocate(POOL, f"con-{number}", "bench")
            for number in range(count)
        ]
    )
    elapsed = time.perf_counter() - started
    distinct = len({network["address"] for network in networks})
    if distinct != count:
        raise AssertionError(f"{count - distinct} addresses given twice")
    return {
        "allocations_per_second": round(count / elapsed),
        "seconds": round(elapsed, 3),
    }


def choice(taken: int, rounds: int = 20) -> dict:
    address_range = IPv4Range.parse(START, END, NETMASK)
    first = int(address_range.start) + 1
    taken_addresses = set(range(first, first + taken))
    started = time.perf_counter()
    for _ in range(rounds):
        next_free([address_range], IPv4Address(GATEWAY), taken_addresses)
    elapsed = time.perf_counter() - started
    return {"ms": round(elapsed / rounds * 1000, 3)}


async def run(reactor, arguments):
    results = {}
    for taken in arguments.taken:
        directory = Path(tempfile.mkdtemp(prefix="nano-bench-addresses-"))
        try:
            journal, addresses = await prepared(reactor, directory, taken)
            row = {
                "sequential": await sequential(addresses, arguments.count),
                "concurrent": await concurrent(addresses, arguments.count),
                "choice": choice(taken),
            }
            await journal.close()
        finally:
            shutil.rmtree(directory)
        results[taken] = row
        print(f"taken {taken:>6}: {orjson.dumps(row).decode()}")
    if arguments.json:
        with open(arguments.json, "wb") as output:
            output.write(orjson.dumps(results, option=orjson.OPT_INDENT_2))


def main():
    options = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    options.add_argument("--count", type=int, default=500)
    options.add_argument("--taken", type=int, nargs="+", default=[0, 10_000])
    options.add_argument("--json", help="also write the results here")
    arguments = options.parse_args()
    tempfile.tempdir = "/var/tmp"
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs")
    react(lambda reactor: Deferred.fromCoroutine(run(reactor, arguments)))


if __name__ == "__main__":
    main()
