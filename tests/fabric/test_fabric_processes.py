"""
Core and two Cells as separate processes with real UDP sockets, each in
its own network namespace on a bridge with no uplink. They find each
other by multicast, exchange requests, notice a killed Cell, and lose
nothing when datagrams are dropped on purpose.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest
from fabric_processes import Namespaces

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="creates network namespaces: needs root"
    ),
    pytest.mark.skipif(
        shutil.which("nft") is None, reason="needs nft for the loss rules"
    ),
]

BLACKHOLE = ["blackhole", "10.213.0.0/16", "metric", "4000"]
#: Seconds a loaded 2-core machine may add before a process reports.
SLACK = 1.0

#: Short timers keep the test fast; the 3/9/15 s defaults are covered by
#: the Clock tests.
TIMERS = {
    "heartbeat_interval": 0.5,
    "lost_after": 1.5,
    "disconnect_after": 2.5,
}


@pytest.fixture(scope="module", autouse=True)
def safety_route():
    """
    Blackhole 10.213.0.0/16 in the root namespace while the tests run,
    so that no test address can leave by a real interface. A route that
    was already there (another test run's) is left alone.
    """
    added = subprocess.run(
        ["ip", "route", "add", *BLACKHOLE], capture_output=True, check=False
    )
    yield
    if added.returncode == 0:
        subprocess.run(["ip", "route", "del", *BLACKHOLE], check=False)


def start_cluster(testbed, requests):
    """Start Core, wait until it listens, then start two Cells."""
    core = testbed.start("core", "core")
    core.wait_for(event="listening")
    cells = [
        testbed.start(name, "cell", "--requests", str(requests))
        for name in ("cell1", "cell2")
    ]
    return core, cells


def test_discovery_requests_and_killed_cell(tmp_path):
    """
    Cells find Core by multicast, requests flow both ways, and a SIGKILLed Cell
    is lost in time.
    """
    with Namespaces(tmp_path, ["core", "cell1", "cell2"], **TIMERS) as testbed:
        core, cells = start_cluster(testbed, requests=200)
        for cell in cells:
            cell.wait_for(event="connected", peer="core")
            echoed = cell.wait_for(event="echoed")
            assert echoed["correct"] == 200, echoed
            core.wait_for(event="named", peer=cell.name)

        killed_at = time.time()
        cells[0].process.send_signal(signal.SIGKILL)
        lost = core.wait_for(event="lost", peer="cell1", timeout=10)
        disconnected = core.wait_for(
            event="disconnected", peer="cell1", timeout=10
        )

        assert lost["time"] - killed_at <= TIMERS["lost_after"] + SLACK
        assert (
            disconnected["time"] - killed_at
            <= TIMERS["disconnect_after"] + SLACK
        )
        assert disconnected["graceful"] is False
        assert not [
            event
            for event in core.events
            if event.get("peer") == "cell2"
            and event["event"] != "connected"
            and event["event"] != "named"
        ]

        cells[1].process.send_signal(signal.SIGTERM)
        closed = core.wait_for(event="disconnected", peer="cell2")
        assert closed["graceful"] is True
        assert cells[1].process.wait(timeout=10) == 0


def test_nothing_lost_under_random_drops(tmp_path):
    """
    With 20% of UDP dropped in every namespace, every request gets its right
    reply.
    """
    timers = {**TIMERS, "lost_after": 4.0, "disconnect_after": 6.0}
    with Namespaces(tmp_path, ["core", "cell1", "cell2"], **timers) as testbed:
        for host in testbed.hosts:
            testbed.drop_udp(host, 20)
        core, cells = start_cluster(testbed, requests=300)
        for cell in cells:
            echoed = cell.wait_for(event="echoed", timeout=60)
            assert echoed["correct"] == 300, echoed
            assert echoed["errors"] == []
            core.wait_for(event="named", peer=cell.name, timeout=30)
        for host in testbed.hosts:
            assert testbed.dropped(host) > 20


def test_fixed_core_address_when_multicast_is_blocked(tmp_path):
    """
    Where multicast is blocked, --core works and discovery says why it failed.
    """
    with Namespaces(tmp_path, ["core", "cell1", "cell2"], **TIMERS) as hosts:
        hosts.block_multicast("cell1")
        hosts.block_multicast("cell2")
        core = hosts.start("core", "core")
        listening = core.wait_for(event="listening")
        address = f"{listening['host']}:{listening['port']}"
        fixed = hosts.start("cell1", "cell", "--core", address)
        searching = hosts.start("cell2", "cell")

        echoed = fixed.wait_for(event="echoed")
        assert echoed["correct"] == 100
        time.sleep(1)
        searching.kill()
        log = searching.stderr_tail()
        assert "cannot send a multicast PING" in log
        assert "Operation not permitted" in log
        assert "--core HOST:PORT" in log
        assert not [
            event for event in searching.events if event["event"] == "echoed"
        ]


def test_cell_finds_restarted_core(tmp_path):
    """
    A Cell whose Core died finds the new Core by multicast and carries on.
    """
    with Namespaces(tmp_path, ["core", "cell1"], **TIMERS) as hosts:
        first = hosts.start("core", "core")
        first.wait_for(event="listening")
        cell = hosts.start("cell1", "cell", "--requests", "20")
        cell.wait_for(event="echoed", correct=20)

        first.kill()
        second = hosts.start("core", "core")
        second.wait_for(event="listening")
        disconnected = cell.wait_for(event="disconnected", peer="core")
        assert disconnected["graceful"] is False
        second.wait_for(event="named", peer="cell1")
        cell.wait_for(event="connected", peer="core", count=2)
        again = cell.wait_for(event="echoed", count=2)
        assert again["correct"] == 20
