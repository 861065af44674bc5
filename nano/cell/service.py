"""
The Cell service: wires the journal, libvirt, volumes and the fabric
session together, and keeps Core informed.
"""

import contextlib

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from nano.fabric import IPeerObserver, PeerClosed
from nano.messages import ComputeCellReady, ComputePoolReady

from ._instances import describe

#: Seconds before a failed start-up reconciliation is tried again.
RECONCILE_RETRY = 5.0


@implementer(IPeerObserver)
class CellService(Service):
    """
    A Cell's instances, served to Core.

    On start it waits for libvirt, reconciles its journal with the
    domains libvirt has, and only then handles requests. Whenever Core
    connects, the Cell sends it ``ComputeCellReady`` with every instance.
    It is the fabric session's peer observer.

    :param book: the :class:`~nano.cell._book.InstanceBook`; its
        ``notify`` should be this service's :meth:`notify`.
    :param host: the :class:`~nano.cell.libvirt.Host`.
    :param lifecycle: the :class:`~nano.cell._lifecycle.Lifecycle`.
    :param journal: the Cell's journal, closed when the service stops.
    :param clock: schedules retries.
    :ivar session: the fabric :class:`~nano.fabric.Session`; set it
        before the service starts.
    :ivar core: Core's peer while connected, else ``None``.
    :ivar pool: the compute pool Core last named, or ``None``.
    """

    log = Logger()

    def __init__(self, book, host, lifecycle, journal, clock):
        self.book = book
        self.host = host
        self.lifecycle = lifecycle
        self.journal = journal
        self._clock = clock
        self.session = None
        self.core = None
        self.pool = None
        self._ready = False
        self._waiting = []
        self._retry = None

    def startService(self):
        """Follow libvirt's events and reconcile once it is connected."""
        super().startService()
        self.session.handle(ComputePoolReady, self._pool_ready)
        self.host.add_event_listener(self.lifecycle.domain_event)
        self.host.add_reconnect_listener(self._reconnected)
        self._start_up()

    def stopService(self):
        """Stop retrying, write a snapshot, then close the journal."""
        super().stopService()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self.host.remove_event_listener(self.lifecycle.domain_event)
        try:
            path = self.book.snapshot()
        except OSError:
            self.log.failure("Could not write a snapshot on stop")
        else:
            if path is not None:
                self.log.info("Wrote snapshot {path}", path=str(path))
        return self.journal.close()

    def ready(self):
        """
        :return: a Deferred that fires once start-up reconciliation is
            done, at once if it is.
        """
        if self._ready:
            return succeed(None)
        waiter = Deferred()
        self._waiting.append(waiter)
        return waiter

    def notify(self, message):
        """Send a one-way message to Core; drop it if Core is away."""
        if self.core is None:
            return
        with contextlib.suppress(PeerClosed):
            self.session.send(self.core, message)

    def cell_ready(self):
        """Return the ``ComputeCellReady`` message of the current state."""
        return ComputeCellReady(
            cell=self.book.cell,
            pool=self.pool,
            instances=[describe(i) for i in self.book.instances()],
            unknown_domains=list(self.lifecycle.unknown_domains),
        )

    def _start_up(self):
        self._retry = None
        starting = self.host.when_connected()
        starting.addCallback(
            lambda _: Deferred.fromCoroutine(
                self.lifecycle.reconcile(startup=True)
            )
        )
        starting.addCallbacks(self._reconciled, self._start_up_failed)

    def _reconciled(self, _):
        self._ready = True
        self.log.info(
            "Cell {cell} ready with {count} instances",
            cell=self.book.cell,
            count=len(self.book.instances()),
        )
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.callback(None)
        if self.core is not None:
            self.notify(self.cell_ready())

    def _start_up_failed(self, failure):
        if not self.running:
            return
        self.log.failure(
            "Comparing the journal with libvirt failed; trying again in "
            "{delay} s",
            failure,
            delay=RECONCILE_RETRY,
        )
        self._retry = self._clock.callLater(RECONCILE_RETRY, self._start_up)

    def _reconnected(self):
        if not (self.running and self._ready):
            return
        comparing = Deferred.fromCoroutine(self.lifecycle.reconcile())
        comparing.addErrback(
            lambda failure: self.log.failure(
                "Comparing the journal with libvirt failed", failure
            )
        )

    def _pool_ready(self, peer, message):
        if message.storage is not None:
            self.log.warn(
                "Pool {pool} has shared storage {storage}, which this Cell "
                "does not support yet; it uses its local disk",
                pool=message.pool,
                storage=message.storage,
            )
        self.pool = message.pool
        return self.ready().addCallback(lambda _: self.cell_ready())

    # IPeerObserver

    def peer_connected(self, peer):
        """Core connected: send it every instance once ready."""
        self.core = peer
        self.log.info("Connected to Core {name}", name=peer.name)
        if self._ready:
            self.notify(self.cell_ready())

    def peer_lost(self, peer):
        """Nothing to do: the fabric keeps trying."""

    def peer_recovered(self, peer):
        """Nothing to do: the connection came back."""

    def peer_disconnected(self, peer, graceful):
        """Core went away: notices are dropped until it is back."""
        if peer is self.core:
            self.core = None

    def message_received(self, peer, message):
        """Not called: the session decodes messages."""
