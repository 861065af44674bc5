"""
A Cell made of the fabric and nothing else, for Core's process tests.

It connects to the Core at ``--core``, sends a status report every 0.5
seconds and one instance in ``ComputeCellReady``, replies to
``ComputePoolReady``, and prints one JSON line per event::

    python fake_cell_node.py --config domain.cfg --name Cell_1 \\
        --core 127.0.0.1:5600
"""

import argparse
import sys

import orjson
from twisted.internet import task
from zope.interface import implementer

from nano.fabric import (
    CellFabric,
    FabricConfig,
    IPeerObserver,
    Session,
    parse_core_address,
)
from nano.messages import (
    NANO_MESSAGES,
    CellStatusReport,
    ComputeCellReady,
    ComputePoolReady,
)

GIB = 1024**3
INSTANCE = {
    "id": "instance-1",
    "name": "vm-1",
    "state": "running",
    "cores": 1,
    "memory": GIB,
    "disks": [8 * GIB],
}


def emit(event, **fields):
    """Print one event line for the test that runs this process."""
    sys.stdout.buffer.write(orjson.dumps({"event": event, **fields}) + b"\n")
    sys.stdout.flush()


@implementer(IPeerObserver)
class FakeCell:
    """Report to Core while connected, and reply to ComputePoolReady."""

    def __init__(self, reactor, name):
        self.name = name
        self.core = None
        self.session = Session(reactor, NANO_MESSAGES, self)
        self.session.handle(ComputePoolReady, self._pool_ready)
        self.loop = task.LoopingCall(self._report)
        self.loop.clock = reactor

    def _ready(self, pool=None):
        return ComputeCellReady(
            cell=self.name, pool=pool, instances=[INSTANCE]
        )

    def _pool_ready(self, peer, message):
        emit("pool", pool=message.pool)
        return self._ready(message.pool)

    def _report(self):
        if self.core is None:
            return
        self.session.send(
            self.core,
            CellStatusReport(
                cell=self.name,
                cores=4,
                cpu_load=0.5,
                memory=16 * GIB,
                memory_available=8 * GIB,
                disk=100 * GIB,
                disk_available=60 * GIB,
                instances=1,
                running=1,
                stopped=0,
            ),
        )

    def peer_connected(self, peer):
        self.core = peer
        emit("connected")
        self.session.send(peer, self._ready())

    def peer_lost(self, peer):
        pass

    def peer_recovered(self, peer):
        pass

    def peer_disconnected(self, peer, graceful):
        self.core = None
        emit("disconnected")

    def message_received(self, peer, message):
        pass


def main(reactor, arguments):
    options = argparse.ArgumentParser()
    options.add_argument("--config", required=True)
    options.add_argument("--name", required=True)
    options.add_argument("--core", required=True, type=parse_core_address)
    options = options.parse_args(arguments)
    config = FabricConfig.from_file(options.config)
    cell = FakeCell(reactor, options.name)
    fabric = CellFabric(
        reactor, config, cell.session, options.name, options.core
    )
    fabric.startService()
    cell.loop.start(0.5)
    emit("started")
    return task.Deferred()


if __name__ == "__main__":
    task.react(main, [sys.argv[1:]])
