"""
A Core or Cell made of nothing but the fabric, for integration tests.

It prints one JSON object per line for each event (peer connected,
lost or disconnected, request results). A test can thus follow several
of these processes running in their own namespaces::

    python fabric_node.py core --config domain.cfg --name Core_1
    python fabric_node.py cell --config domain.cfg --name Cell_1 \\
        --requests 200
"""

import argparse
import hashlib
import sys
import time

import orjson
from twisted.internet import defer, task
from twisted.logger import globalLogBeginner, textFileLogObserver

from nano.fabric import (
    CellFabric,
    CoreFabric,
    FabricConfig,
    MessageRegistry,
    Session,
    parse_core_address,
)

registry = MessageRegistry()


@registry.message("EchoRequest")
class EchoRequest:
    data: str
    number: int


@registry.message("EchoReply")
class EchoReply:
    digest: str
    number: int


@registry.message("NodeNameRequest")
class NodeNameRequest:
    pass


@registry.message("NodeNameReply")
class NodeNameReply:
    name: str


def emit(event, **fields):
    """Print one event line for the test that runs this process."""
    line = orjson.dumps({"event": event, "time": time.time(), **fields})
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.flush()


def digest(text):
    """Return the SHA-256 of ``text``, the proof that echoes were right."""
    return hashlib.sha256(text.encode()).hexdigest()


class Printer:
    """Prints the peer lifecycle."""

    session = None

    def peer_connected(self, peer):
        emit("connected", peer=peer.name)

    def peer_lost(self, peer):
        emit("lost", peer=peer.name)

    def peer_recovered(self, peer):
        emit("recovered", peer=peer.name)

    def peer_disconnected(self, peer, graceful):
        emit("disconnected", peer=peer.name, graceful=graceful)


class CorePrinter(Printer):
    """Also requests each new peer's name, a request sent by Core."""

    def peer_connected(self, peer):
        super().peer_connected(peer)
        named = self.session.request(peer, NodeNameRequest())
        named.addCallbacks(
            lambda reply: emit("named", peer=reply.name),
            lambda failure: emit("error", error=str(failure.value)),
        )


class CellPrinter(Printer):
    """Also sends a burst of echo requests to Core on each connection."""

    def __init__(self, requests):
        self.requests = requests

    def peer_connected(self, peer):
        super().peer_connected(peer)
        exchange(self.session, peer, self.requests)


def start_core(reactor, options, config):
    """Run Core's fabric, which replies to echo and name requests."""
    printer = CorePrinter()
    session = Session(reactor, registry, printer, config.request_timeout)
    printer.session = session
    session.handle(EchoRequest, echo)
    session.handle(NodeNameRequest, lambda peer, _: NodeNameReply(name="core"))
    fabric = CoreFabric(reactor, config, session, options.name)
    fabric.startService()
    reactor.addSystemEventTrigger("before", "shutdown", fabric.stopService)
    host, port = fabric.address
    emit("listening", host=host, port=port)


def echo(peer, request):
    """Reply to an echo request with the digest of its data."""
    return EchoReply(digest=digest(request.data), number=request.number)


def start_cell(reactor, options, config):
    """Run a Cell's fabric, which sends echo requests on each connection."""
    printer = CellPrinter(options.requests)
    session = Session(reactor, registry, printer, config.request_timeout)
    printer.session = session
    name = options.name
    session.handle(NodeNameRequest, lambda peer, _: NodeNameReply(name=name))
    core = parse_core_address(options.core) if options.core else None
    fabric = CellFabric(reactor, config, session, name, core)
    fabric.startService()
    reactor.addSystemEventTrigger("before", "shutdown", fabric.stopService)


@defer.inlineCallbacks
def exchange(session, peer, count):
    """
    Send ``count`` echo requests at once and print how many came back right.
    """
    sent = [
        EchoRequest(
            data=f"{number}:" + "x" * (number * 37 % 5000), number=number
        )
        for number in range(count)
    ]
    started = time.monotonic()
    results = yield defer.DeferredList(
        [session.request(peer, request) for request in sent],
        consumeErrors=True,
    )
    correct = sum(
        1
        for request, (succeeded, reply) in zip(sent, results, strict=True)
        if succeeded
        and reply.number == request.number
        and reply.digest == digest(request.data)
    )
    errors = sorted(
        {str(reply.value) for succeeded, reply in results if not succeeded}
    )
    emit(
        "echoed",
        sent=count,
        correct=correct,
        errors=errors,
        seconds=time.monotonic() - started,
    )


def main(reactor, argv):
    """Parse the options and start Core or a Cell."""
    globalLogBeginner.beginLoggingTo(
        [textFileLogObserver(sys.stderr)], redirectStandardIO=False
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("core", "cell"))
    parser.add_argument("--config", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--core", help="HOST:PORT: skip discovery")
    parser.add_argument("--requests", type=int, default=100)
    options = parser.parse_args(argv)
    config = FabricConfig.from_file(options.config)
    if options.role == "core":
        start_core(reactor, options, config)
    else:
        start_cell(reactor, options, config)
    return defer.Deferred()


if __name__ == "__main__":
    task.react(main, (sys.argv[1:],))
