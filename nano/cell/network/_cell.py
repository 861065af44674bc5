"""
The Cell's use of :class:`DhcpServer`: the bindings follow the instances
in the Cell's journal whose network provider is ``dhcp``.
"""

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
    Return ``(networks, bindings, skipped)`` for the instances with a MAC
    and a ``dhcp`` network: the networks to serve, sorted, and
    ``{mac: (address, hostname, network)}`` in the order of
    ``instances``, where ``network`` is the instance's own network
    settings. The gateway and DNS servers of each network's last
    instance are offered to that network.

    An instance whose network settings are invalid, or whose address an
    instance before it already has, is left out and its id returned in
    ``skipped``.
    """
    networks, bindings, skipped = set(), {}, []
    taken = set()
    for instance in instances:
        if not _uses_dhcp(instance):
            continue
        network = _network(instance)
        address = instance.network.get("address")
        if network is None or address in taken:
            skipped.append(instance.id)
            continue
        taken.add(address)
        networks.add(network)
        bindings[instance.mac] = (
            address,
            dhcp_hostname(instance.name),
            instance.network,
        )
    return tuple(sorted(networks)), bindings, skipped


def _uses_dhcp(instance):
    network = getattr(instance, "network", None)
    return (
        instance.mac is not None
        and network is not None
        and network.get("provider") == "dhcp"
        and instance.state != "deleting"
    )


def _network(instance):
    """Return the instance's network, or ``None`` for invalid settings."""
    settings = instance.network
    try:
        address = f"{settings['address']}/{settings['prefix']}"
        return ipaddress.IPv4Interface(address).network
    except (KeyError, TypeError, ValueError):
        return None


class CellDhcp(Service):
    """
    Runs dnsmasq on the Cell's bridge while any instance needs DHCP, with
    the bindings of the instances in the journal, so a restarted Cell
    serves the same addresses.

    :param instances: returns the journalled instances, each with ``id``,
        ``name``, ``mac``, ``state`` and ``network``.
    :param make_server: builds the :class:`DhcpServer` for the range
        networks, from ``(reactor, bridge, directory, networks)``, where
        ``networks`` is a list of strings such as ``10.213.7.0/24``.
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
        change its bindings, restart it for another set of networks, or
        stop it when no instance needs DHCP.

        :return: a Deferred that fires once dnsmasq has read the bindings,
            or fails with :class:`DhcpError` when the bridge cannot serve
            them or dnsmasq did not read them within ``SYNC_TIMEOUT``.
        """
        networks, bindings, skipped = wanted_bindings(self._instances())
        if skipped:
            self.log.warn(
                "instances {ids} have invalid network settings or another "
                "instance's address, so DHCP does not serve them",
                ids=", ".join(skipped),
            )
        if not networks:
            return self._stop_server()
        if self.server is not None and self.server.networks != networks:
            # dnsmasq reads its ranges from the command line only.
            self._stop_server()
        if self.server is None and self._stopping is not None:
            # Start the next dnsmasq once the last one has let go of the
            # DHCP port and the lease file, with the bindings of then.
            return self._after_stop().addCallback(lambda _: self.sync())
        return self._serve(networks, bindings)

    def _serve(self, networks, bindings):
        try:
            if self.server is None:
                reading = self._start_server(networks, bindings)
            else:
                reading = self.server.set_bindings(bindings)
        except DhcpError as error:
            return fail(error)
        reading.addTimeout(SYNC_TIMEOUT, self._reactor, self._timed_out)
        return reading

    def _start_server(self, networks, bindings):
        server = self._make_server(
            self._reactor,
            self.bridge,
            self.directory,
            [str(network) for network in networks],
        )
        # Bindings first: start() keeps only the leases they match.
        server.set_bindings(bindings)
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
