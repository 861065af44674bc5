"""
The Cell's use of :class:`DhcpServer`: the bindings follow the instances
in the Cell's journal whose network provider is ``dhcp``.
"""

import collections
import ipaddress
import re

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger

from ._errors import DhcpError
from ._server import DhcpServer

#: Seconds a change waits for dnsmasq to read the new bindings.
SYNC_TIMEOUT = 10.0
_NOT_IN_LABEL = re.compile(r"[^a-z0-9-]+")


def dhcp_hostname(name: str) -> str | None:
    """
    Return the host name DHCP offers for an instance name, or ``None``
    when nothing is left. The name loses its ``group.`` prefix, goes to
    lower case, has other characters turned into hyphens and is cut to
    63 characters.
    """
    label = _NOT_IN_LABEL.sub("-", name.split(".", 1)[-1].lower())
    label = label[:63].strip("-")
    return label or None


def wanted_bindings(instances):
    """
    Return ``(network, bindings, gateway, dns, skipped)`` for the
    instances with a MAC and a ``dhcp`` network, or ``network`` ``None``
    when there are none.

    All instances of a Cell normally share their pool's network. When
    they do not, the network most of them use is served and the ids of
    the others are returned in ``skipped``.
    """
    served = [i for i in instances if _uses_dhcp(i)]
    if not served:
        return None, {}, None, (), []
    networks = collections.Counter(_network(i) for i in served)
    network = networks.most_common(1)[0][0]
    chosen = [i for i in served if _network(i) == network]
    skipped = [i.id for i in served if _network(i) != network]
    servers = collections.Counter(
        (i.network["gateway"], tuple(i.network["dns"])) for i in chosen
    )
    gateway, dns = servers.most_common(1)[0][0]
    bindings = {
        i.mac: (i.network["address"], dhcp_hostname(i.name)) for i in chosen
    }
    return network, bindings, gateway, dns, skipped


def _uses_dhcp(instance):
    network = getattr(instance, "network", None)
    return (
        instance.mac is not None
        and network is not None
        and network.get("provider") == "dhcp"
        and instance.state != "deleting"
    )


def _network(instance):
    address = f"{instance.network['address']}/{instance.network['prefix']}"
    return ipaddress.IPv4Interface(address).network


class CellDhcp(Service):
    """
    Runs dnsmasq on the Cell's bridge while any instance needs DHCP, with
    the bindings of the instances in the journal, so a restarted Cell
    serves the same addresses.

    :param instances: returns the journalled instances, each with ``id``,
        ``name``, ``mac``, ``state`` and ``network``.
    :param make_server: builds the :class:`DhcpServer` for a range
        network, from ``(reactor, bridge, directory, network)``.
    """

    log = Logger()

    def __init__(
        self, reactor, bridge, directory, instances, make_server=DhcpServer
    ):
        self._reactor = reactor
        self.bridge = bridge
        self.directory = directory
        self._instances = instances
        self._make_server = make_server
        self.server = None
        self._stopping = None
        self._stop_waiters = []

    def startService(self):
        """Serve the journalled bindings; a failure is logged."""
        super().startService()
        self.update()

    def update(self) -> None:
        """Run :meth:`sync`, and log its failure instead of returning it."""
        syncing = self.sync()
        syncing.addErrback(
            lambda failure: self.log.error(
                "DHCP on bridge {bridge} is not serving: {error}",
                bridge=self.bridge,
                error=failure.getErrorMessage(),
            )
        )

    def stopService(self):
        """Stop dnsmasq."""
        super().stopService()
        return self._stop_server()

    def sync(self) -> Deferred:
        """
        Bring dnsmasq in line with the journalled instances: start it,
        change its bindings, move it to another range network, or stop it
        when no instance needs DHCP.

        :return: a Deferred that fires once dnsmasq has read the bindings,
            or fails with :class:`DhcpError` when the bridge cannot serve
            them or dnsmasq did not read them within ``SYNC_TIMEOUT``.
        """
        network, bindings, gateway, dns, skipped = wanted_bindings(
            self._instances()
        )
        if skipped:
            self.log.warn(
                "instances {ids} are not in the DHCP range {network} of the "
                "Cell's other instances, so DHCP does not serve them",
                ids=", ".join(skipped),
                network=str(network),
            )
        if network is None:
            return self._stop_server()
        if self.server is not None and self.server.network != network:
            self._stop_server()
        if self.server is None and self._stopping is not None:
            # Start the next dnsmasq once the last one has let go of the
            # DHCP port and the lease file, with the bindings of then.
            return self._after_stop().addCallback(lambda _: self.sync())
        return self._serve(network, bindings, gateway, dns)

    def _serve(self, network, bindings, gateway, dns):
        try:
            if self.server is None:
                reading = self._start_server(network, bindings, gateway, dns)
            else:
                reading = self.server.set_bindings(bindings, gateway, dns)
        except DhcpError as error:
            return fail(error)
        reading.addTimeout(SYNC_TIMEOUT, self._reactor, self._timed_out)
        return reading

    def _start_server(self, network, bindings, gateway, dns):
        server = self._make_server(
            self._reactor, self.bridge, self.directory, str(network)
        )
        # Bindings first: start() keeps only the leases they match.
        server.set_bindings(bindings, gateway, dns)
        reading = server.start()
        self.server = server
        return reading

    def _timed_out(self, result, timeout):
        raise DhcpError(
            f"dnsmasq on bridge {self.bridge} did not read the new DHCP "
            f"bindings within {timeout} s; see the Cell log for its output"
        )

    def _stop_server(self):
        server, self.server = self.server, None
        if server is not None:
            self._stopping = server.stop()
            self._stopping.addBoth(self._stopped)
        return self._after_stop()

    def _stopped(self, result):
        waiters, self._stop_waiters = self._stop_waiters, []
        self._stopping = None
        for waiter in waiters:
            waiter.callback(None)
        return result

    def _after_stop(self):
        """Return a Deferred that fires once no dnsmasq is stopping."""
        if self._stopping is None:
            return succeed(None)
        waiter = Deferred()
        self._stop_waiters.append(waiter)
        return waiter
