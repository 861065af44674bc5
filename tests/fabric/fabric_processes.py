"""
Real fabric nodes as processes, in network namespaces joined by a bridge
with no uplink, for the integration tests.

Every namespace, link and process made here is removed by
:meth:`Namespaces.close`, processes by PID.
"""

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from nano.config import write_atomic

HERE = Path(__file__).parent
NODE_PROGRAM = HERE / "fabric_node.py"
SUBNET = "10.213.50"


def ip(*arguments, namespace=None, check=True):
    """Run ``ip``, inside ``namespace`` if given."""
    command = ["ip"]
    if namespace is not None:
        command += ["-n", namespace]
    return subprocess.run(
        command + list(arguments), check=check, capture_output=True, text=True
    )


def netns(namespace, *command, check=True):
    """Run a command inside a namespace."""
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *command],
        check=check,
        capture_output=True,
        text=True,
    )


class Node:
    """One fabric_node.py process; its event lines are read by a thread."""

    def __init__(self, name, command):
        self.name = name
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.events = []
        self._stderr = None
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self._queue.put(orjson.loads(line))

    def wait_for(self, timeout=20.0, count=1, **fields):
        """
        Return the ``count``-th event whose fields match, waiting up to
        ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        matches = [e for e in self.events if fields.items() <= e.items()]
        while len(matches) < count:
            remaining = deadline - time.monotonic()
            try:
                event = self._queue.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(
                    f"{self.name}: no event {fields} (number {count}) within "
                    f"{timeout} s; saw {self.events}; "
                    f"stderr: {self.stderr_tail()}"
                ) from None
            self.events.append(event)
            if fields.items() <= event.items():
                matches.append(event)
        return matches[count - 1]

    def stderr_tail(self):
        """Return the end of the process's log, once it has exited."""
        if self.process.poll() is None:
            return "(still running)"
        if self._stderr is None:
            self._stderr = self.process.stderr.read().decode(errors="replace")
        return self._stderr[-4000:]

    def kill(self):
        """SIGKILL the process (by its PID) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


class Namespaces:
    """
    A switch namespace with a bridge, and one namespace per host, each
    linked to the bridge by a veth pair; nothing reaches the root
    namespace's interfaces.
    """

    def __init__(self, directory: Path, hosts, **settings):
        tag = f"nf{os.getpid() % 100000}"
        self.switch = f"{tag}-sw"
        self.hosts = {host: f"{tag}-{host}" for host in hosts}
        self.addresses = {}
        self.nodes = []
        self.config = directory / "domain.cfg"
        self._namespaces = []
        self._settings = settings

    def __enter__(self):
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _build(self):
        self._add_namespace(self.switch)
        ip("link", "add", "br0", "type", "bridge", namespace=self.switch)
        ip("link", "set", "br0", "up", namespace=self.switch)
        for index, (host, namespace) in enumerate(self.hosts.items(), 1):
            self._add_namespace(namespace)
            ip(
                "link", "add", f"p{index}", "type", "veth",
                "peer", "name", "eth0", "netns", namespace,
                namespace=self.switch,
            )  # fmt: skip
            ip("link", "set", f"p{index}", "master", "br0", "up",
               namespace=self.switch)  # fmt: skip
            address = f"{SUBNET}.{index}"
            self.addresses[host] = address
            ip("addr", "add", f"{address}/24", "dev", "eth0",
               namespace=namespace)  # fmt: skip
            ip("link", "set", "eth0", "up", namespace=namespace)
            ip("link", "set", "lo", "up", namespace=namespace)
        settings = {
            "secret": os.urandom(32).hex(),
            "interface": "eth0",
            **self._settings,
        }
        write_atomic(self.config, settings, mode=0o600)

    def _add_namespace(self, namespace):
        subprocess.run(["ip", "netns", "add", namespace], check=True)
        self._namespaces.append(namespace)

    def start(self, host, role, *arguments):
        """Start fabric_node.py in ``host``'s namespace."""
        command = [
            "ip", "netns", "exec", self.hosts[host],
            sys.executable, str(NODE_PROGRAM), role,
            "--config", str(self.config), "--name", host, *arguments,
        ]  # fmt: skip
        node = Node(host, command)
        self.nodes.append(node)
        return node

    def drop_udp(self, host, percent):
        """Drop ``percent`` % of UDP datagrams arriving in ``host``."""
        namespace = self.hosts[host]
        script = (
            "add table inet loss\n"
            "add chain inet loss input "
            "{ type filter hook input priority 0; }\n"
            "add rule inet loss input meta l4proto udp "
            f"numgen random mod 100 < {percent} counter drop\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", namespace, "nft", "-f", "-"],
            input=script,
            check=True,
            text=True,
        )

    def block_multicast(self, host):
        """Reject multicast sent from ``host``, as a strict firewall does."""
        script = (
            "add table inet nomulticast\n"
            "add chain inet nomulticast output "
            "{ type filter hook output priority 0; }\n"
            "add rule inet nomulticast output ip daddr 224.0.0.0/4 drop\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", self.hosts[host], "nft", "-f", "-"],
            input=script,
            check=True,
            text=True,
        )

    def dropped(self, host):
        """Return how many datagrams the loss rule dropped in ``host``."""
        listing = netns(self.hosts[host], "nft", "list", "table", "inet",
                        "loss").stdout  # fmt: skip
        words = listing.split()
        return int(words[words.index("packets") + 1])

    def close(self):
        """Kill every node by PID, then delete every namespace made."""
        for node in self.nodes:
            node.kill()
        for namespace in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", namespace], check=False)
        self._namespaces.clear()
