"""
Benchmark the fabric's transport between two processes on loopback,
beside a raw Twisted UDP socket doing the same work (the ceiling).

Usage: ``.venv/bin/python benchmarks/transport.py [--quick] [--json FILE]
[--profile FILE]``

Measured, fabric and raw side by side:

- one-way throughput of small messages (a 60-byte JSON status report),
  ended by a request that the server replies to once all have arrived;
- request round-trip latency, p50 and p99, at a paced 1,000 requests/s;
- the transfer rate of 1 MiB messages (sent one after another, each
  answered by a short reply).

Everything is unicast on 127.0.0.1; nothing is sent to a multicast
group. The server is this same file run with ``--serve``.
"""

import argparse
import cProfile
import gc
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

import attrs
import orjson
import twisted
from twisted.internet import defer, task
from twisted.internet.protocol import DatagramProtocol

from nano.fabric import (
    MAX_PACKET_SIZE,
    Endpoint,
    FabricConfig,
    MessageRegistry,
    Session,
)
from nano.fabric._config import LOOPBACK_DATAGRAM

HOST = "127.0.0.1"
SECRET = os.urandom(32)
SECRET_VARIABLE = "NANO_BENCHMARK_SECRET"
#: Paced requests sent and not measured before the latency run.
WARM_UP = 500
#: Datagram sizes tried for 1 MiB transfers (bytes, headers included).
DATAGRAM_SIZES = (1472, 4096, 8192, 16384, 32768, 65507)
MIB = 1024 * 1024
registry = MessageRegistry()


@registry.message("Sample")
class Sample:
    number: int
    load: float


@registry.message("CountRequest")
class CountRequest:
    pass


@registry.message("CountReply")
class CountReply:
    count: int


@registry.message("EchoRequest")
class EchoRequest:
    number: int


@registry.message("EchoReply")
class EchoReply:
    number: int


@registry.message("BlobRequest")
class BlobRequest:
    data: str


@registry.message("BlobReply")
class BlobReply:
    size: int


class Quiet:
    """An observer that ignores the peer lifecycle."""

    def peer_connected(self, peer):
        pass

    def peer_lost(self, peer):
        pass

    def peer_recovered(self, peer):
        pass

    def peer_disconnected(self, peer, graceful):
        pass


# The server process.


class RawServer(DatagramProtocol):
    """Echoes ``E`` datagrams, counts ``S`` ones, and replies to ``Q``."""

    count = 0
    size = 0

    def datagramReceived(self, data, address):
        kind = data[:1]
        if kind == b"E":
            self.transport.write(data, address)
        elif kind == b"S":
            self.count += 1
            self.size += len(data)
        elif kind == b"Q":
            reply = b"R%d %d" % (self.count, self.size)
            self.count = self.size = 0
            self.transport.write(reply, address)


def serve(reactor, config):
    counter = {"samples": 0}

    def sample(peer, message):
        counter["samples"] += 1

    def count(peer, request):
        samples, counter["samples"] = counter["samples"], 0
        return CountReply(count=samples)

    session = Session(reactor, registry, Quiet())
    session.handle(Sample, sample)
    session.handle(CountRequest, count)
    session.handle(
        EchoRequest, lambda _, request: EchoReply(number=request.number)
    )
    session.handle(
        BlobRequest, lambda _, request: BlobReply(size=len(request.data))
    )
    endpoint = Endpoint(reactor, config, session, "server")
    fabric = reactor.listenUDP(0, endpoint, HOST, MAX_PACKET_SIZE)
    raw = RawServer()
    raw_port = reactor.listenUDP(0, raw, HOST, MAX_PACKET_SIZE)
    set_buffers(raw_port.socket, config.socket_buffer)
    ports = {"fabric": fabric.getHost().port, "raw": raw_port.getHost().port}
    settle()
    sys.stdout.write(orjson.dumps(ports).decode() + "\n")
    sys.stdout.flush()
    return defer.Deferred()


def set_buffers(handle, size):
    handle.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


# The client process: measurements.


class RawClient(DatagramProtocol):
    """Sends raw datagrams to :class:`RawServer` and waits for replies."""

    def __init__(self, server):
        self.server = server
        self.echoes = {}
        self.report = None

    def datagramReceived(self, data, address):
        kind = data[:1]
        if kind == b"E":
            waiting = self.echoes.pop(data, None)
            if waiting is not None:
                waiting.callback(time.perf_counter())
        elif kind == b"R" and self.report is not None:
            report, self.report = self.report, None
            count, size = data[1:].split()
            report.callback((int(count), int(size)))

    def echo(self, number):
        data = b"E%08d" % number + b" " * 50
        waiting = self.echoes[data] = defer.Deferred()
        self.transport.write(data, self.server)
        return waiting

    def query(self):
        self.report = defer.Deferred()
        self.transport.write(b"Q", self.server)
        return self.report


def pause(reactor):
    return task.deferLater(reactor, 0, lambda: None)


@defer.inlineCallbacks
def fabric_throughput(reactor, session, peer, count):
    started = time.perf_counter()
    for first in range(0, count, 500):
        for number in range(first, min(first + 500, count)):
            session.send(peer, Sample(number=number, load=0.25))
        yield pause(reactor)
    reply = yield session.request(peer, CountRequest(), timeout=120)
    elapsed = time.perf_counter() - started
    return {"received": reply.count, "per_second": reply.count / elapsed}


@defer.inlineCallbacks
def raw_throughput(reactor, raw, count, size):
    data = b"S" + b" " * (size - 1)
    started = time.perf_counter()
    for first in range(0, count, 500):
        for _ in range(first, min(first + 500, count)):
            raw.transport.write(data, raw.server)
        yield pause(reactor)
    received, _ = yield raw.query()
    elapsed = time.perf_counter() - started
    return {"received": received, "per_second": received / elapsed}


@defer.inlineCallbacks
def paced(reactor, count, rate, send):
    """
    Start ``send(number)`` at ``rate`` per second, each returning a
    Deferred that fires at its reply; return the round trips in ms.
    """
    round_trips = []
    pending = []
    started = time.perf_counter()

    def measure(number):
        sent = time.perf_counter()
        answered = send(number)
        answered.addCallback(
            lambda _: round_trips.append((time.perf_counter() - sent) * 1000)
        )
        pending.append(answered)

    for number in range(count):
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            yield task.deferLater(reactor, delay, lambda: None)
        measure(number)
    yield defer.gatherResults(pending)
    return latency_summary(round_trips)


def latency_summary(round_trips):
    ordered = sorted(round_trips)
    return {
        "count": len(ordered),
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1],
        "max_ms": ordered[-1],
    }


@defer.inlineCallbacks
def fabric_bulk(session, peer, repeat):
    data = "x" * MIB
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        reply = yield session.request(peer, BlobRequest(data=data))
        seconds.append(time.perf_counter() - started)
        assert reply.size == MIB
    return bulk_summary(seconds)


@defer.inlineCallbacks
def raw_bulk(raw, repeat, datagram):
    sizes = [datagram] * (MIB // datagram) + [MIB % datagram]
    chunks = [b"S" + b"x" * (size - 1) for size in sizes if size]
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        for chunk in chunks:
            raw.transport.write(chunk, raw.server)
        _, size = yield raw.query()
        seconds.append(time.perf_counter() - started)
        assert size == MIB, size
    return bulk_summary(seconds)


def bulk_summary(seconds):
    median = statistics.median(seconds)
    return {
        "repeat": len(seconds),
        "median_ms": median * 1000,
        "mb_per_second": MIB / median / 1e6,
    }


def settle():
    """
    Collect garbage and freeze what survives, as a long-running daemon
    does after start-up, so that a full collection of start-up objects
    (about 20 ms here) does not land inside a measurement.
    """
    gc.collect()
    gc.freeze()


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "twisted": twisted.__version__,
        "kernel": platform.release(),
    }


@defer.inlineCallbacks
def measure(reactor, options, config, ports):
    endpoint = Endpoint(reactor, config, None, "client")
    session = Session(reactor, registry, Quiet())
    endpoint.observer = session
    reactor.listenUDP(0, endpoint, HOST, MAX_PACKET_SIZE)
    raw = RawClient((HOST, ports["raw"]))
    raw_port = reactor.listenUDP(0, raw, HOST, MAX_PACKET_SIZE)
    set_buffers(raw_port.socket, config.socket_buffer)
    peer = yield endpoint.connect((HOST, ports["fabric"]))

    quick = options.quick
    messages = 20_000 if quick else 200_000
    requests = 1000 if quick else 5000
    repeat = 5 if quick else 30
    sample_size = len(registry.encode(Sample(number=123456, load=0.25)))
    results = {"machine": machine(), "sample_bytes": sample_size}

    profile = cProfile.Profile() if options.profile else None
    if profile:
        profile.enable()
    settle()
    results["throughput"] = {
        "fabric": (yield fabric_throughput(reactor, session, peer, messages)),
        "raw": (yield raw_throughput(reactor, raw, messages, sample_size)),
    }

    def echo(number):
        return session.request(peer, EchoRequest(number=number))

    yield paced(reactor, WARM_UP, 1000, echo)
    yield paced(reactor, WARM_UP, 1000, raw.echo)
    settle()
    results["latency"] = {
        "fabric": (yield paced(reactor, requests, 1000, echo)),
        "raw": (yield paced(reactor, requests, 1000, raw.echo)),
    }
    settle()
    results["bulk"] = {
        "fabric": (yield fabric_bulk(session, peer, repeat)),
        "raw": (yield raw_bulk(raw, repeat, LOOPBACK_DATAGRAM)),
    }
    if profile:
        profile.disable()
        profile.dump_stats(options.profile)
    yield peer.close()
    results["datagram_sizes"] = yield sweep(reactor, config, ports, repeat)
    return results


@defer.inlineCallbacks
def sweep(reactor, config, ports, repeat):
    """
    Measure 1 MiB transfers with each datagram size in
    :data:`DATAGRAM_SIZES`, to find the best one for loopback.
    """
    rates = {}
    for size in DATAGRAM_SIZES:
        sized = attrs.evolve(config, max_datagram=size)
        endpoint = Endpoint(reactor, sized, None, f"client-{size}")
        session = Session(reactor, registry, Quiet())
        endpoint.observer = session
        port = reactor.listenUDP(0, endpoint, HOST, MAX_PACKET_SIZE)
        peer = yield endpoint.connect((HOST, ports["fabric"]))
        result = yield fabric_bulk(session, peer, repeat)
        rates[size] = result["mb_per_second"]
        yield peer.close()
        yield port.stopListening()
    return rates


def report(results):
    rows = [
        ("small messages one way (msg/s)", "throughput", "per_second", 0),
        ("round trip p50 at 1,000/s (ms)", "latency", "p50_ms", 3),
        ("round trip p99 at 1,000/s (ms)", "latency", "p99_ms", 3),
        ("1 MiB message (MB/s)", "bulk", "mb_per_second", 1),
    ]
    print(f"{'measure':34} {'fabric':>12} {'raw UDP':>12}")
    for label, group, key, digits in rows:
        fabric = results[group]["fabric"][key]
        raw = results[group]["raw"][key]
        print(f"{label:34} {fabric:12,.{digits}f} {raw:12,.{digits}f}")
    print("1 MiB message by datagram size (MB/s):")
    for size, rate in results["datagram_sizes"].items():
        print(f"  {size:>6} bytes {rate:10,.1f}")
    print(orjson.dumps(results["machine"]).decode())


def start_server(options):
    command = [sys.executable, __file__, "--serve"]
    if options.profile:
        command += ["--profile", options.profile + ".server"]
    environment = {**os.environ, SECRET_VARIABLE: SECRET.hex()}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, env=environment)
    ports = orjson.loads(server.stdout.readline())
    return server, ports


def client(reactor, options):
    config = FabricConfig(secret=SECRET, max_datagram=options.max_datagram)
    server, ports = start_server(options)
    done = measure(reactor, options, config, ports)

    def finish(results):
        server.terminate()
        server.wait(timeout=10)
        report(results)
        if options.json:
            with open(options.json, "wb") as output:
                output.write(
                    orjson.dumps(
                        results,
                        option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                    )
                )

    def failed(failure):
        server.kill()
        return failure

    return done.addCallbacks(finish, failed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--json", help="also write the results to FILE")
    parser.add_argument("--profile", help="write cProfile stats to FILE")
    parser.add_argument(
        "--max-datagram",
        type=int,
        default=0,
        help="datagram size in bytes for the client (0: by address)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        run_server(options)
    else:
        task.react(client, (options,))


def run_server(options):
    config = FabricConfig(secret=bytes.fromhex(os.environ[SECRET_VARIABLE]))
    profile = cProfile.Profile() if options.profile else None
    if profile:
        profile.enable()
    try:
        task.react(serve, (config,))
    finally:
        if profile:
            profile.disable()
            profile.dump_stats(options.profile)


if __name__ == "__main__":
    main()
