"""
Twisted services that run the fabric for Core and for a Cell.

They are what a ``twistd`` plugin puts in its ``MultiService``: each
binds its sockets when started and closes its connections gracefully
when stopped.
"""

from twisted.application.service import Service
from twisted.internet.defer import DeferredList, maybeDeferred
from twisted.logger import Logger

from ._config import FabricConfig
from ._connector import CoreConnector, fixed_core
from ._discovery import DiscoveryClient, DiscoveryResponder
from ._endpoint import MAX_PACKET_SIZE, Endpoint
from ._interface import resolve_interface


class _FabricService(Service):
    log = Logger()

    def __init__(self, reactor, config: FabricConfig, observer, name):
        self._reactor = reactor
        self._config = config
        self.endpoint = Endpoint(reactor, config, observer, name)
        self.interface = None
        self._ports = []

    def _listen(self, port, host):
        listening = self._reactor.listenUDP(
            port, self.endpoint, interface=host, maxPacketSize=MAX_PACKET_SIZE
        )
        self._ports.append(listening)
        return listening.getHost().port

    def _stop_listening(self, _=None):
        ports, self._ports = self._ports, []
        return DeferredList(
            [maybeDeferred(port.stopListening) for port in ports]
        )


class CoreFabric(_FabricService):
    """
    Core's side: the transport endpoint on ``listen_address`` (or the
    discovery interface's address) and ``listen_port``, and the
    discovery responder on the domain's group.

    :ivar address: Core's transport ``(host, port)``, once started.
    :raises InterfaceError: from ``startService``, when the discovery
        interface cannot be found; the message explains how to set it.
    """

    def __init__(self, reactor, config: FabricConfig, observer, name):
        super().__init__(reactor, config, observer, name)
        self.address = None

    def startService(self):
        config = self._config
        self.interface = resolve_interface(config.interface)
        host = config.listen_address or self.interface
        port = self._listen(config.listen_port, host)
        self.address = (host, port)
        responder = DiscoveryResponder(
            self._reactor, config, self.interface, self.address
        )
        self._ports.append(
            self._reactor.listenMulticast(
                config.group_port, responder, listenMultiple=True
            )
        )
        self.log.info(
            "Fabric listening on {host}:{port}, discovery on {group}:"
            "{group_port} via {interface}, domain {domain}",
            host=host,
            port=port,
            group=config.group_address,
            group_port=config.group_port,
            interface=self.interface,
            domain=config.domain,
        )
        super().startService()

    def stopService(self):
        super().stopService()
        closed = self.endpoint.close()
        return closed.addBoth(self._stop_listening)


class CellFabric(_FabricService):
    """
    A node's side: the transport endpoint on a free port, and a
    :class:`CoreConnector` that finds Core by multicast, or uses
    ``core_address`` when given (``--core``).

    With discovery, the endpoint binds the discovery interface's address.
    With ``core_address`` it binds the ``interface`` setting's address if
    there is one, and otherwise every address, so that it needs neither
    a default route nor multicast.

    :ivar connector: the :class:`CoreConnector`; its ``peer`` is Core.
    :ivar interface: the address of the interface in use, or None when
        the endpoint is bound to every address.
    :raises InterfaceError: from ``startService``, when the interface
        that discovery or the ``interface`` setting needs cannot be
        found; the message explains how to set it.
    """

    def __init__(
        self, reactor, config: FabricConfig, observer, name, core_address=None
    ):
        super().__init__(reactor, config, observer, name)
        self._core_address = core_address
        self.connector = None

    def startService(self):
        if self._core_address is None:
            find = self._start_discovery()
        else:
            find = self._start_fixed_core()
        self.connector = CoreConnector(self._reactor, self.endpoint, find)
        self.connector.startService()
        super().startService()

    def _start_discovery(self):
        self.interface = resolve_interface(self._config.interface)
        self._listen(0, self.interface)
        client = DiscoveryClient(self._reactor, self._config, self.interface)
        self._ports.append(
            self._reactor.listenMulticast(0, client, interface=self.interface)
        )
        return client.search

    def _start_fixed_core(self):
        if self._config.interface is not None:
            self.interface = resolve_interface(self._config.interface)
        # With the socket bound to every address, the kernel picks the
        # source address from the route to Core.
        self._listen(0, self.interface or "")
        return fixed_core(self._core_address)

    def stopService(self):
        super().stopService()
        stopped = maybeDeferred(self.connector.stopService)
        return stopped.addBoth(self._stop_listening)
