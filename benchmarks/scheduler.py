"""
Benchmark the scheduler: placement decisions per second in a pool of
1,000 simulated Cells.

Usage: ``.venv/bin/python benchmarks/scheduler.py [--cells N]
[--seconds S] [--rounds R] [--json FILE]``

Two scenarios, both in this process with no I/O:

- **select**: ``select_cell`` over a prepared list of ``Candidate``
  values, which is the scheduler alone.
- **from soft state**: ``Cluster.candidates`` builds the list from Core's
  state (pool membership) and each Cell's last report and instance list
  (10 instances per Cell), then ``select_cell`` picks. That is what one
  placement costs Core.

The Cells are random but seeded: 10 % offline, 10 % disabled, CPU loads
from 0 to 100 % (so about 20 % of the online Cells are above the 80 %
limit), and free memory and disk from none to all.
"""

import argparse
import gc
import os
import platform
import random
import time
from types import SimpleNamespace

import orjson
from pyrsistent import pmap

from nano.core._cluster import Cluster, Link, LiveCell
from nano.core._scheduler import Candidate, Demand, select_cell
from nano.messages import CellStatusReport
from nano.projections.core import ComputePool, CoreState, PoolCell

GIB = 1024**3
POOL = "bench"
DEMAND = Demand(cores=2, memory=4 * GIB, disk=40 * GIB)


def random_cell(rng: random.Random, index: int) -> dict:
    """Return the fields of one simulated Cell."""
    memory = rng.choice([64, 128, 256]) * GIB
    disk = rng.choice([1000, 2000, 4000]) * GIB
    return {
        "name": f"cell-{index:04d}",
        "alive": rng.random() >= 0.1,
        "enabled": rng.random() >= 0.1,
        "cores": rng.choice([16, 32, 64]),
        "cpu_load": rng.random(),
        "memory": memory,
        "memory_available": rng.randrange(memory),
        "disk": disk,
        "disk_available": rng.randrange(disk),
    }


def instances(rng: random.Random, index: int) -> list:
    """Return 10 instance descriptions, as a Cell sends them."""
    return [
        {
            "id": f"i-{index}-{number}",
            "state": "running",
            "cores": rng.choice([1, 2, 4]),
            "memory": rng.choice([1, 2, 4]) * GIB,
            "disks": [rng.choice([20, 40]) * GIB],
        }
        for number in range(10)
    ]


def prepared(cells: list[dict]) -> list[Candidate]:
    """Return the Cells as scheduler candidates, allocations included."""
    return [Candidate(**cell, allocated_cores=20) for cell in cells]


def soft_state(cells: list[dict], rng: random.Random) -> Cluster:
    """Return a Cluster holding the Cells, as if they had reported."""
    members = pmap(
        {
            cell["name"]: PoolCell(cell["name"], POOL, cell["enabled"])
            for cell in cells
        }
    )
    pools = pmap({POOL: ComputePool(POOL, None, None, False, True)})
    state = CoreState(pools=pools, cells=members)
    live = SimpleNamespace(current=SimpleNamespace(state=state))
    cluster = Cluster(live, clock=None)
    for index, cell in enumerate(cells):
        peer = SimpleNamespace(name=cell["name"], address=("10.213.9.1", 1))
        entry = LiveCell(cell["name"], peer)
        entry.link = Link.ONLINE if cell["alive"] else Link.LOST
        entry.report = CellStatusReport(
            cell=cell["name"],
            cores=cell["cores"],
            cpu_load=cell["cpu_load"],
            memory=cell["memory"],
            memory_available=cell["memory_available"],
            disk=cell["disk"],
            disk_available=cell["disk_available"],
            instances=10,
            running=10,
            stopped=0,
        )
        entry.replace_instances(instances(rng, index))
        cluster._cells[cell["name"]] = entry
    return cluster


def measure(decide, seconds: float) -> dict:
    """Call ``decide`` for ``seconds``; return decisions/s and p99."""
    latencies = []
    end = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        decide()
        done = time.perf_counter()
        latencies.append(done - start)
        if done >= end:
            break
    latencies.sort()
    return {
        "decisions_per_second": len(latencies) / sum(latencies),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "decisions": len(latencies),
    }


def main():
    options = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    options.add_argument("--cells", type=int, default=1000)
    options.add_argument("--seconds", type=float, default=3.0)
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--json", help="also write the results here")
    arguments = options.parse_args()

    rng = random.Random(4)
    cells = [random_cell(rng, index) for index in range(arguments.cells)]
    candidates = prepared(cells)
    cluster = soft_state(cells, rng)
    chosen = select_cell(POOL, cluster.candidates(POOL), DEMAND)
    print(f"{arguments.cells} Cells; a decision picks {chosen.name}")
    gc.collect()
    gc.freeze()

    scenarios = {
        "select": lambda: select_cell(POOL, candidates, DEMAND),
        "from soft state": lambda: select_cell(
            POOL, cluster.candidates(POOL), DEMAND
        ),
    }
    results = {name: [] for name in scenarios}
    for _ in range(arguments.rounds):
        for name, decide in scenarios.items():
            results[name].append(measure(decide, arguments.seconds))

    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print("scenario         decisions/s   p50 ms   p99 ms")
    for name, rounds in results.items():
        for result in rounds:
            print(
                f"{name:<16} {result['decisions_per_second']:>11,.0f} "
                f"{result['p50_ms']:>8.3f} {result['p99_ms']:>8.3f}"
            )
    if arguments.json:
        with open(arguments.json, "wb") as output:
            output.write(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
