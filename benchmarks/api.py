"""
Benchmark Core's REST API: signed GETs of one compute pool, of a
10,000-pool list, of one guest and of a 10,000-guest search, against
bare Klein routes that return the same JSON in the same server process
(the stack's ceiling).

Usage: ``.venv/bin/python benchmarks/api.py [--seconds S]
[--connections N] [--rounds R] [--json FILE]``

The server runs in a child process on 127.0.0.1 with a real journal in
a temporary directory, filled with 10,000 pools through
``LiveProjection.record``, and with 10,000 created guests through
``Guests.record``: the events a successful create saga journals. No
Cell is connected, so every guest shows as not running. This process
checks that Core and the bare routes reply the same bodies, then starts
the load generators: processes running asyncio HTTP/1.1 clients on
keep-alive connections, each client sending one request at a time.
Every request to Core is signed with ``nano.signing.sign`` when it is
sent. Scenarios alternate between Core and the bare route in each
round, so that both see the same machine load.
"""

import argparse
import asyncio
import functools
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from nano.signing import Request, sign

POOL_COUNT = 10_000
API_ID = "benchmark"
API_KEY = "benchmark-key-0123456789abcdef"
SINGLE = "/api/v1/compute_pools/pool-00042"
LIST = "/api/v1/compute_pools/"
GUEST_COUNT = 10_000
TEMPLATE = "template-1"


def guest_id(index: int) -> str:
    """Return the id of guest ``index``, shaped as Core's uuid4 ids."""
    return str(uuid.UUID(int=index + 1))


GUEST = f"/api/v1/guests/{guest_id(42)}"
GUESTS = "/api/v1/guest_search/"


# --- server (child process) -------------------------------------------


def serve(directory: Path) -> None:
    """Serve Core's API and the bare routes; print both ports."""
    from twisted.internet import reactor
    from twisted.internet.defer import gatherResults
    from twisted.web.server import Site

    from nano.core.api import build_api
    from nano.events import Journal, utc_time
    from nano.events.core import CORE_EVENTS, ComputePoolCreated
    from nano.projections import CoreProjection, LiveProjection

    journal = Journal.open(directory / "journal", CORE_EVENTS, reactor)
    live = LiveProjection(CoreProjection(), journal)
    api = build_api(live, {API_ID: API_KEY}, reactor)

    def fill():
        time = utc_time(reactor.seconds())
        recorded = [
            live.record(
                ComputePoolCreated(
                    aggregate_id=f"pool-{index:05d}",
                    time=time,
                    network="net-1",
                )
            )
            for index in range(POOL_COUNT)
        ]
        return gatherResults(recorded)

    def listen(_):
        core = reactor.listenTCP(
            0, Site(api.resource()), interface="127.0.0.1"
        )
        bare = reactor.listenTCP(
            0, Site(bare_app(api).resource()), interface="127.0.0.1"
        )
        print(core.getHost().port, bare.getHost().port, flush=True)

    def fill_all():
        filled = fill().addCallback(lambda _: fill_guests(api, reactor))
        return filled.addCallback(listen)

    reactor.callWhenRunning(fill_all)
    reactor.run()


def fill_guests(api, reactor):
    """
    Record a template and ``GUEST_COUNT`` guests, each with the events
    of a create saga that succeeded without starting the instance.
    """
    from twisted.internet.defer import gatherResults

    from nano.events import utc_time
    from nano.events.core import SystemTemplateCreated

    time = utc_time(reactor.seconds())
    template = SystemTemplateCreated(
        aggregate_id=TEMPLATE,
        time=time,
        name="CentOS 7",
        admin="root",
        operating_system="linux",
        disk="scsi",
        network="virtio",
        display="vga",
        control="vnc",
        usb="nec-xhci",
        tablet="usb",
    )
    recorded = api.live.record(template)
    return recorded.addCallback(
        lambda _: gatherResults(
            [
                create_guest(api.guests, index, time)
                for index in range(GUEST_COUNT)
            ]
        )
    )


def create_guest(guests, index, time):
    """Record the events of guest ``index``'s successful creation."""
    from nano.events.guests import (
        GuestCreated,
        GuestCreateStarted,
        GuestCreateStepDone,
    )

    ids = {"aggregate_id": guest_id(index), "time": time, "task_id": "t"}
    started = GuestCreateStarted(
        **ids,
        name=f"vm-{index:05d}",
        owner="admin",
        group="manager",
        pool=f"pool-{index % 100:05d}",
        cell=f"cell-{index % 50:02d}",
        cores=2,
        memory=2 * 1024**3,
        disks=[10 * 1024**3, 50 * 1024**3],
        template=TEMPLATE,
        auto_start=False,
    )
    events = [
        started,
        GuestCreateStepDone(**ids, step="reserve"),
        GuestCreateStepDone(**ids, step="create"),
        GuestCreated(**ids),
    ]
    recorded = guests.record(events[0])
    for event in events[1:]:
        recorded.addCallback(lambda _, event=event: guests.record(event))
    return recorded


def bare_app(api):
    """
    Return a Klein app whose routes serialize the same data as Core's,
    with no signature check, validation or error handling.
    """
    from klein import Klein

    from nano.core.api.pools import pool_json

    app = Klein()

    def reply(request, data):
        body = orjson.dumps({"error_code": 0, "message": "", "data": data})
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"content-length", b"%d" % len(body))
        return body

    # The same route pattern as Core's, so that routing costs the same.
    @app.route("/api/v1/compute_pools/<pool>", methods=["GET"])
    def single(request, pool):
        return reply(request, pool_json(api.state.pools[pool]))

    @app.route(LIST, methods=["GET"])
    def listing(request):
        pools = api.state.pools
        return reply(
            request, [pool_json(pools[name]) for name in sorted(pools)]
        )

    add_bare_guests(app, api, reply)
    return app


def add_bare_guests(app, api, reply):
    """Add bare routes for one guest and for the guest search."""
    from nano.core.api.guests import guest_json

    def data(guest):
        # The same lookups as Core's GuestRoutes._running and _system.
        cell = api.cluster.cell(guest.cell)
        instance = {} if cell is None else cell.instances.get(guest.id)
        running = (instance or {}).get("state") == "running"
        template = api.state.templates.get(guest.template)
        system = "" if template is None else template.operating_system
        return guest_json(guest, running, system)

    @app.route("/api/v1/guests/<guest_id>", methods=["GET"])
    def one_guest(request, guest_id):
        return reply(request, data(api.guests.state[guest_id]))

    @app.route(GUESTS, methods=["GET"])
    def guest_search(request):
        guests = sorted(
            api.guests.state.values(), key=lambda g: (g.name, g.id)
        )
        return reply(request, [data(guest) for guest in guests])


# --- load generator ----------------------------------------------------


def request_bytes(port: int, path: str, signed: bool) -> bytes:
    """Return one GET request, signed now when ``signed``."""
    return _request_at(port, path, signed, int(time.time()))


@functools.lru_cache(maxsize=64)
def _request_at(port: int, path: str, signed: bool, second: int) -> bytes:
    # Nano-Date has a resolution of one second, so every request signed
    # within the same second is the same bytes: caching them saves the
    # load generator's CPU (two cores are shared with the server) and
    # changes nothing that Core receives or checks.
    headers = {"host": f"127.0.0.1:{port}"}
    if signed:
        when = datetime.fromtimestamp(second, UTC)
        headers.update(
            sign(Request("GET", path, "", headers), API_ID, API_KEY, when)
        )
    lines = [f"GET {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def client(port, path, signed, deadline, latencies):
    """Send requests one at a time until ``deadline``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < deadline:
        data = request_bytes(port, path, signed)
        started = time.perf_counter()
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        status = head[9:12]
        if status != b"200":
            raise RuntimeError(f"GET {path} returned {head!r}")
        length = _content_length(head)
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
    writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return int(value)
    raise RuntimeError(f"reply without content-length: {head!r}")


async def run_connections(port, path, signed, seconds, connections):
    """
    Return the elapsed time and the latencies (seconds) of
    ``connections`` clients.
    """
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            client(port, path, signed, deadline, latencies)
            for _ in range(connections)
        )
    )
    return time.perf_counter() - started, latencies


def run_generator(arguments):
    """Run the clients of one load generator process."""
    return asyncio.run(run_connections(*arguments))


def run_scenario(generators, port, path, signed, arguments):
    """
    Return requests/s and sorted latencies of one scenario, with the
    connections spread over the load generator processes.
    """
    count = arguments.generators
    shares = [arguments.connections // count] * count
    shares[0] += arguments.connections - sum(shares)
    results = generators.map(
        run_generator,
        [(port, path, signed, arguments.seconds, share) for share in shares],
    )
    rate = sum(len(latencies) / elapsed for elapsed, latencies in results)
    latencies = sorted(value for _, values in results for value in values)
    return rate, latencies


def percentile(values, fraction):
    return values[min(len(values) - 1, int(len(values) * fraction))]


# --- orchestration -----------------------------------------------------


def start_server(directory: Path):
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = server.stdout.readline()
    if not line:
        server.wait()
        raise SystemExit(f"benchmark server exited with {server.returncode}")
    core_port, bare_port = map(int, line.split())
    return server, core_port, bare_port


SCENARIOS = [
    ("one pool", SINGLE),
    (f"{POOL_COUNT:,} pools", LIST),
    ("one guest", GUEST),
    (f"{GUEST_COUNT:,} guests", GUESTS),
]


def fetch(port: int, path: str, signed: bool) -> bytes:
    """Return the body of one GET, which must reply 200."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if signed:
        headers = {"host": f"127.0.0.1:{port}"}
        when = datetime.now(UTC)
        signature = sign(
            Request("GET", path, "", headers), API_ID, API_KEY, when
        )
        for name, value in signature.items():
            request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def check_same_replies(ports) -> None:
    """
    Exit unless Core and the bare routes reply the same body to every
    scenario's path, and the guest lists hold every guest.
    """
    for label, path in SCENARIOS:
        core = fetch(ports[0], path, True)
        bare = fetch(ports[1], path, False)
        if core != bare:
            raise SystemExit(
                f"{label}: Core replied {core[:200]!r}, bare "
                f"{bare[:200]!r}; make the bare route build the same data"
            )
    listed = orjson.loads(fetch(ports[1], GUESTS, False))["data"]
    if len(listed) != GUEST_COUNT or not all(g["created"] for g in listed):
        raise SystemExit(
            f"the guest search lists {len(listed)} guests, not "
            f"{GUEST_COUNT} created ones: check fill_guests"
        )


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server_pid, ports, arguments):
    """Run every scenario ``rounds`` times; return merged results."""
    results = {}
    with multiprocessing.Pool(arguments.generators) as generators:
        for _ in range(arguments.rounds):
            for label, path in SCENARIOS:
                for target, port, signed in [
                    ("Core, signed", ports[0], True),
                    ("bare Klein", ports[1], False),
                ]:
                    cpu_before = cpu_seconds(server_pid)
                    rate, latencies = run_scenario(
                        generators, port, path, signed, arguments
                    )
                    cpu = cpu_seconds(server_pid) - cpu_before
                    entry = results.setdefault(
                        (label, target), [[], [], 0.0, 0]
                    )
                    entry[0].append(rate)
                    entry[1].extend(latencies)
                    entry[2] += cpu
                    entry[3] += len(latencies)
    return results


def report(results, arguments):
    print(
        f"{arguments.connections} connections from {arguments.generators} "
        f"processes, {arguments.rounds} rounds of "
        f"{arguments.seconds} s per scenario; {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        "| request | server | requests/s | p50 ms | p99 ms | of bare "
        "| server CPU µs/request |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = []
    for label, _ in SCENARIOS:
        bare_rate = sum(results[(label, "bare Klein")][0])
        for target in ("Core, signed", "bare Klein"):
            rates, latencies, cpu, count = results[(label, target)]
            rate = sum(rates) / len(rates)
            row = {
                "request": label,
                "server": target,
                "requests_per_second": round(rate),
                "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
                "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
                "of_bare": round(sum(rates) / bare_rate, 3),
                "server_cpu_us": round(cpu / count * 1e6),
            }
            rows.append(row)
            print(
                f"| {label} | {target} | {row['requests_per_second']:,} | "
                f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                f"{row['of_bare']:.0%} | {row['server_cpu_us']:,} |"
            )
    if arguments.json:
        Path(arguments.json).write_bytes(orjson.dumps(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--generators",
        type=int,
        default=2,
        help="load generator processes sharing the connections",
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", help="also write the results to FILE")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(Path(arguments.serve))
        return
    with tempfile.TemporaryDirectory(prefix="nano-api-bench-") as directory:
        server, *ports = start_server(Path(directory))
        try:
            check_same_replies(ports)
            report(measure(server.pid, ports, arguments), arguments)
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
