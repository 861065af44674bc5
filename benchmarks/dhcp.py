"""
Benchmark DHCP on a Cell's bridge with the real dnsmasq. It measures how
long a change of bindings takes to be read, and how long a client waits
for its lease.

Usage (as root): ``.venv/bin/python benchmarks/dhcp.py [--bindings N
...] [--rounds R] [--json FILE]``

The benchmark makes a network namespace with a bridge (10.213.0.1/16,
no uplink) and a client namespace joined to it by a veth pair, runs
itself again inside the first one, and removes both at the end.

- **reload**: ``DhcpServer.set_bindings`` with N bindings, from the call
  until its Deferred fires, which is when dnsmasq has logged reading
  the new hosts and options files after SIGHUP. Each round changes
  every host name, so dnsmasq reads a new file each time.
- **lease**: busybox ``udhcpc`` in the client namespace, from the start
  of the process until it exits with its lease (DISCOVER, OFFER,
  REQUEST, ACK), with one binding for its MAC among N.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from ipaddress import IPv4Network
from pathlib import Path

NETWORK = IPv4Network("10.213.0.0/16")
SERVER = "10.213.0.1"
CLIENT_MAC = "52:54:00:be:00:01"


def main():
    arguments = _parser().parse_args()
    if arguments.inside:
        _inside(arguments)
        return
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark makes network namespaces")

    suffix = uuid.uuid4().hex[:8]
    server, client = f"nano-bd-{suffix}", f"nano-bdc-{suffix}"
    directory = Path(
        tempfile.mkdtemp(prefix="nano-dhcp-bench-", dir="/var/tmp")
    )
    directory.chmod(0o755)
    try:
        _make_namespaces(server, client)
        command = [
            "ip", "netns", "exec", server, sys.executable, __file__,
            "--inside", "--client", client, "--directory", str(directory),
            "--rounds", str(arguments.rounds),
            "--bindings", *map(str, arguments.bindings),
        ]  # fmt: skip
        output = subprocess.run(
            command, check=True, capture_output=True, text=True
        ).stdout
    finally:
        subprocess.run(["ip", "netns", "del", client], check=False)
        subprocess.run(["ip", "netns", "del", server], check=False)
        shutil.rmtree(directory, ignore_errors=True)

    results = json.loads(output)
    results["machine"] = _machine()
    _print(results)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=2))


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bindings",
        type=int,
        nargs="+",
        default=[1, 100, 1000, 10000],
        help="numbers of bindings to measure with",
    )
    parser.add_argument(
        "--rounds", type=int, default=20, help="measurements per case"
    )
    parser.add_argument("--json", help="also write the results to FILE")
    parser.add_argument(
        "--inside", action="store_true", help=argparse.SUPPRESS
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    return parser


def _make_namespaces(server, client):
    def ip(*arguments):
        subprocess.run(["ip", *arguments], check=True)

    ip("netns", "add", server)
    ip("netns", "add", client)
    ip("-n", server, "link", "set", "lo", "up")
    ip("-n", server, "link", "add", "br0", "type", "bridge")
    ip("-n", server, "addr", "add", f"{SERVER}/16", "dev", "br0")
    ip("-n", server, "link", "set", "br0", "up")
    ip(
        "-n", server, "link", "add", "veth0", "type", "veth",
        "peer", "name", "eth0", "netns", client,
    )  # fmt: skip
    ip("-n", server, "link", "set", "veth0", "master", "br0", "up")
    ip("-n", client, "link", "set", "eth0", "address", CLIENT_MAC)
    ip("-n", client, "link", "set", "eth0", "up")


def _bindings(count, round_number):
    """``count`` bindings, the client's first, host names per round."""
    hosts = NETWORK.hosts()
    next(hosts)  # the server's own address
    bindings = {}
    for index in range(count):
        mac = CLIENT_MAC if index == 0 else _mac(index)
        bindings[mac] = (str(next(hosts)), f"host-{round_number}-{index}")
    return bindings


def _mac(index):
    return "52:54:01:" + ":".join(
        f"{(index >> shift) & 0xFF:02x}" for shift in (16, 8, 0)
    )


def _inside(arguments):
    from twisted.internet.defer import Deferred
    from twisted.internet.task import react

    react(lambda reactor: Deferred.fromCoroutine(_measure(reactor, arguments)))


async def _measure(reactor, arguments):
    from twisted.internet.threads import deferToThread

    from nano.cell.network import DhcpServer

    server = DhcpServer(
        reactor, "br0", Path(arguments.directory) / "dhcp", str(NETWORK)
    )
    await server.start()
    results = {"reload": {}, "lease": {}}
    try:
        for count in arguments.bindings:
            reloads = []
            for round_number in range(arguments.rounds):
                bindings = _bindings(count, round_number)
                started = time.perf_counter()
                await server.set_bindings(bindings, SERVER, [SERVER])
                reloads.append(time.perf_counter() - started)
            leases = []
            for _ in range(arguments.rounds):
                seconds = await deferToThread(_lease, arguments.client)
                leases.append(seconds)
            results["reload"][count] = _summary(reloads)
            results["lease"][count] = _summary(leases)
    finally:
        await server.stop()
    print(json.dumps(results))


def _lease(client):
    started = time.perf_counter()
    subprocess.run(
        [
            "ip", "netns", "exec", client, "busybox", "udhcpc", "-i", "eth0",
            "-n", "-q", "-f", "-t", "3", "-T", "1", "-A", "0",
            "-s", "/bin/true",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def _summary(samples):
    samples = sorted(samples)
    return {
        "rounds": len(samples),
        "median_ms": round(statistics.median(samples) * 1000, 2),
        "max_ms": round(samples[-1] * 1000, 2),
    }


def _machine():
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "dnsmasq": subprocess.run(
            ["dnsmasq", "--version"], capture_output=True, text=True
        ).stdout.splitlines()[0],
        "load": os.getloadavg()[0],
    }


def _print(results):
    print(
        f"{'bindings':>9} {'reload median':>14} {'max':>9} "
        f"{'lease median':>13} {'max':>9}"
    )
    for count, reload in results["reload"].items():
        lease = results["lease"][count]
        print(
            f"{count:>9} {reload['median_ms']:>11.2f} ms "
            f"{reload['max_ms']:>6.2f} ms {lease['median_ms']:>10.2f} ms "
            f"{lease['max_ms']:>6.2f} ms"
        )
    print(json.dumps(results["machine"]))


if __name__ == "__main__":
    main()
