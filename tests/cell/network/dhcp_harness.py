"""
A DhcpServer in a process of its own, for tests that run it inside a
network namespace: ``ip netns exec NS python dhcp_harness.py ...``.

It reads one JSON command per line on stdin and writes one JSON reply
per line on stdout; its log goes to stderr.

Commands: ``{"bind": {mac: [address, hostname]}, "gateway": ...,
"dns": [...]}`` replies ``{"bound": pid}`` once dnsmasq has read the
files; ``{"pid": null}`` replies ``{"pid": pid}``; ``{"stop": null}``
replies ``{"stopped": null}`` and exits. A start that fails replies
``{"error": message}`` and exits with status 2.
"""

import argparse
import json
import sys

from twisted.internet import reactor, stdio
from twisted.logger import globalLogBeginner, textFileLogObserver
from twisted.protocols.basic import LineReceiver

from nano.cell.network import DhcpError, DhcpServer


class Commands(LineReceiver):
    """Run each command line against the server."""

    delimiter = b"\n"

    def __init__(self, server):
        self.server = server

    def reply(self, **fields):
        self.sendLine(json.dumps(fields).encode())

    def lineReceived(self, line):
        command = json.loads(line)
        if "bind" in command:
            bindings = {m: tuple(v) for m, v in command["bind"].items()}
            waiting = self.server.set_bindings(
                bindings, command.get("gateway"), command.get("dns", ())
            )
            waiting.addCallback(lambda _: self.reply(bound=self.server.pid))
        elif "pid" in command:
            self.reply(pid=self.server.pid)
        elif "stop" in command:
            stopping = self.server.stop()
            stopping.addCallback(lambda _: self.reply(stopped=None))
            stopping.addCallback(lambda _: self.transport.loseConnection())

    def connectionLost(self, reason):
        """Stop dnsmasq and exit once stdin is closed or after stop."""
        self.server.stop().addBoth(lambda _: reactor.stop())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bridge", required=True)
    parser.add_argument("--directory", required=True)
    parser.add_argument("--network", required=True, action="append")
    parser.add_argument("--restart-delay", type=float, default=0.2)
    arguments = parser.parse_args()
    globalLogBeginner.beginLoggingTo(
        [textFileLogObserver(sys.stderr)], redirectStandardIO=False
    )
    server = DhcpServer(
        reactor,
        arguments.bridge,
        arguments.directory,
        arguments.network,
        restart_delay=arguments.restart_delay,
    )
    try:
        server.start()
    except DhcpError as error:
        print(json.dumps({"error": str(error)}), flush=True)
        sys.exit(2)
    stdio.StandardIO(Commands(server))
    reactor.run()


if __name__ == "__main__":
    main()
