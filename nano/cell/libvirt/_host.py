"""
The Cell's connection to libvirt: one per process, reopened when libvirtd
restarts, with every blocking call on one dedicated thread.
"""

import contextlib
import enum
import xml.etree.ElementTree as ET

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger

from ._constants import DomainState, domain_state
from ._errors import (
    DomainExists,
    DomainNotRunning,
    HostUnavailable,
    InvalidDomainXML,
    translate,
)
from ._events import EventDispatcher, domain_event
from ._guest import Guest
from ._thread import LibvirtThread, start_event_loop

# virConnectCloseReason
_CLOSE_REASONS = {0: "error", 1: "end of file", 2: "keepalive timeout"}
_LIFECYCLE_EVENT_ID = 0  # VIR_DOMAIN_EVENT_ID_LIFECYCLE
_NO_DOMAIN = 42  # VIR_ERR_NO_DOMAIN
_KEEPALIVE_INTERVAL = 5  # seconds between keepalive messages
_KEEPALIVE_COUNT = 3  # unanswered keepalives before the connection closes


class _ConnectionState(enum.Enum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WAITING = "waiting to reconnect"


@attrs.frozen
class DomainStatus:
    """One domain's identity and power state, as listed by the host."""

    name: str
    uuid: str
    state: DomainState


@attrs.frozen
class NodeInfo:
    """
    The host's capacity.

    :ivar cores: logical CPUs.
    :ivar memory: installed memory in bytes.
    :ivar free_memory: free memory in bytes.
    """

    cores: int
    memory: int
    free_memory: int


def _import_libvirt():
    # Imported late so that tests on the fake need no libvirt library.
    import libvirt

    return libvirt


class Host(Service):
    """
    A libvirt connection and its domain events, as a Twisted service.

    Starting the service opens the connection, and retries with a growing
    delay when libvirtd is not reachable. When libvirtd closes the
    connection (it restarted, or missed its keepalive replies), the host
    logs it and reconnects, and then calls its reconnect listeners so the
    Cell can compare its instances with what libvirt runs.

    :param reactor: provides ``IReactorTime`` and ``IReactorThreads``.
    :param uri: the libvirt URI, such as ``qemu:///system``,
        ``qemu:///system?socket=/path/libvirt-sock`` or ``test:///default``.
    :param libvirt: the ``libvirt`` module, or a fake with the same API.
    :param thread: runs the blocking calls; a :class:`LibvirtThread` by
        default.
    :param event_loop: starts libvirt's event loop; called once on start.
    :param stop_delay: seconds a STOPPED event is held back in case a
        STARTED event for the same domain follows.
    :param retry_delay: seconds before the first reconnection attempt,
        doubled after each failure up to ``max_retry_delay``.
    """

    log = Logger()

    def __init__(
        self,
        reactor,
        uri,
        *,
        libvirt=None,
        thread=None,
        event_loop=start_event_loop,
        stop_delay=2.0,
        retry_delay=1.0,
        max_retry_delay=30.0,
    ):
        self.uri = uri
        self._reactor = reactor
        self._libvirt = libvirt if libvirt is not None else _import_libvirt()
        self._thread = thread if thread is not None else LibvirtThread(reactor)
        self._event_loop = event_loop
        self._events = EventDispatcher(reactor, stop_delay)
        self._first_retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._retry_delay = retry_delay
        self._retry_call = None
        self._state = _ConnectionState.STOPPED
        self._connection = None
        self._waiters = []
        self._reconnect_listeners = []
        self._has_connected = False

    def startService(self):
        """Start the libvirt thread and open the connection."""
        super().startService()
        self._libvirt.registerErrorHandler(_ignore_error, None)
        self._event_loop(self._libvirt)
        self._thread.start()
        self._connect()

    def stopService(self):
        """
        Close the connection and stop the libvirt thread.

        :return: a Deferred that fires when both are done.
        """
        super().stopService()
        self._state = _ConnectionState.STOPPED
        self._events.discard_held()
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._fail_waiters(f"libvirt host {self.uri} stopped")
        closing = self._close(self._connection)
        self._connection = None
        closing.addBoth(lambda _: self._thread.stop())
        return closing

    @property
    def reactor(self):
        """The reactor the host's calls and events run on."""
        return self._reactor

    def when_connected(self):
        """
        Wait for the connection to be open.

        :return: a Deferred that fires once the connection is open, at once
            if it is open now. It fails with :exc:`HostUnavailable` if the
            service is not running or stops first.
        """
        if self._state is _ConnectionState.CONNECTED:
            return succeed(None)
        if not self.running:
            return fail(HostUnavailable(f"libvirt host {self.uri} stopped"))
        waiter = Deferred()
        self._waiters.append(waiter)
        return waiter

    def add_event_listener(self, listener):
        """
        Call ``listener(event)`` on the reactor thread with every
        :class:`DomainEvent`.
        """
        self._events.add_listener(listener)

    def remove_event_listener(self, listener):
        """Stop calling a listener added by :meth:`add_event_listener`."""
        self._events.remove_listener(listener)

    def add_reconnect_listener(self, listener):
        """
        Call ``listener()`` each time the connection is open again after
        it was lost: events may have been missed while it was closed.
        """
        self._reconnect_listeners.append(listener)

    def call(
        self, action, domain, function, *args, not_active=DomainNotRunning
    ):
        """
        Call ``function(connection, *args)`` on the libvirt thread.

        :param action: what the call does, for error messages.
        :param domain: the domain name it concerns, or ``None``.
        :param not_active: the exception for libvirt's "operation is not
            valid" error.
        :return: a Deferred with the function's result. libvirt errors
            become :exc:`HypervisorError` subclasses, and with no open
            connection it fails with :exc:`HostUnavailable` at once.
        """
        if self._connection is None:
            return fail(
                HostUnavailable(
                    f"{action} failed: not connected to libvirt at "
                    f"{self.uri} ({self._state.value})",
                    domain,
                )
            )
        libvirt_error = self._libvirt.libvirtError

        def guarded(connection):
            try:
                return function(connection, *args)
            except libvirt_error as error:
                raise translate(error, action, domain, not_active) from error

        return self._thread.run(guarded, self._connection)

    def define(self, domain_xml):
        """
        Define a new persistent domain.

        :param domain_xml: the domain XML; it must name a domain that does
            not exist yet, by name and by UUID if it has one.
        :return: a Deferred with the :class:`Guest`; it fails with
            :exc:`DomainExists` or :exc:`InvalidDomainXML`.
        """
        try:
            name, uuid = _name_and_uuid(domain_xml)
        except InvalidDomainXML as error:
            return fail(error)
        return self.call("define", name, self._define, name, uuid, domain_xml)

    def lookup(self, name):
        """
        Find the domain called ``name``.

        :return: a Deferred with its :class:`Guest`; it fails with
            :exc:`DomainNotFound`.
        """
        return self.call("look up", name, self._lookup, name)

    def guests(self):
        """List every domain, as a Deferred list of :class:`Guest`."""
        return self.call("list domains", None, self._guests)

    def domain_states(self):
        """
        Read every domain's power state in one call on the libvirt thread.

        :return: a Deferred list of :class:`DomainStatus`.
        """
        return self.call("list domain states", None, self._domain_states)

    def node_info(self):
        """Read the host's capacity, a Deferred :class:`NodeInfo`."""
        return self.call("read node info", None, _node_info)

    def _define(self, connection, name, uuid, domain_xml):
        _raise_if_exists(connection, name, uuid, self._libvirt.libvirtError)
        domain = connection.defineXML(domain_xml)
        return Guest(self, domain.name(), domain.UUIDString())

    def _lookup(self, connection, name):
        domain = connection.lookupByName(name)
        return Guest(self, domain.name(), domain.UUIDString())

    def _guests(self, connection):
        return [
            Guest(self, domain.name(), domain.UUIDString())
            for domain in connection.listAllDomains(0)
        ]

    def _domain_states(self, connection):
        statuses = []
        for domain in connection.listAllDomains(0):
            state = _unless_missing(
                domain.state, 0, self._libvirt.libvirtError
            )
            if state is None:
                continue  # undefined since it was listed
            status = DomainStatus(
                domain.name(), domain.UUIDString(), domain_state(state[0])
            )
            statuses.append(status)
        return statuses

    def _connect(self):
        self._state = _ConnectionState.CONNECTING
        opening = self._thread.run(self._open)
        opening.addCallbacks(self._connected, self._connect_failed)

    def _open(self):
        connection = self._libvirt.open(self.uri)
        # Local drivers such as test:/// have no keepalive and raise.
        with contextlib.suppress(self._libvirt.libvirtError):
            connection.setKeepAlive(_KEEPALIVE_INTERVAL, _KEEPALIVE_COUNT)
        connection.registerCloseCallback(self._closed_from_thread, None)
        connection.domainEventRegisterAny(
            None, _LIFECYCLE_EVENT_ID, self._event_from_thread, None
        )
        return connection

    def _connected(self, connection):
        if self._state is _ConnectionState.STOPPED:
            # The service stopped while connecting, and its thread is gone.
            _close_quietly(connection, self._libvirt)
            return
        reconnected = self._has_connected
        self._connection = connection
        self._state = _ConnectionState.CONNECTED
        self._has_connected = True
        self._retry_delay = self._first_retry_delay
        self.log.info("connected to libvirt at {uri}", uri=self.uri)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)
        if reconnected:
            self._notify_reconnected()

    def _connect_failed(self, failure):
        if self._state is _ConnectionState.STOPPED:
            return
        error = failure.value
        if isinstance(error, self._libvirt.libvirtError):
            error = error.get_error_message()
        self.log.warn(
            "cannot connect to libvirt at {uri}: {error}; "
            "retrying in {delay} s",
            uri=self.uri,
            error=error,
            delay=self._retry_delay,
        )
        self._schedule_reconnect()

    def _schedule_reconnect(self):
        self._state = _ConnectionState.WAITING
        self._retry_call = self._reactor.callLater(
            self._retry_delay, self._connect
        )
        self._retry_delay = min(self._retry_delay * 2, self._max_retry_delay)

    def _closed_from_thread(self, connection, reason, opaque):
        self._reactor.callFromThread(self._connection_lost, connection, reason)

    def _connection_lost(self, connection, reason):
        if connection is not self._connection:
            return
        self.log.warn(
            "lost the connection to libvirt at {uri} ({reason}); reconnecting",
            uri=self.uri,
            reason=_CLOSE_REASONS.get(reason, f"reason {reason}"),
        )
        self._connection = None
        self._close(connection)
        self._schedule_reconnect()

    def _close(self, connection):
        if connection is None:
            return succeed(None)
        closing = self._thread.run(_close_quietly, connection, self._libvirt)
        closing.addErrback(
            lambda failure: self.log.failure(
                "closing the libvirt connection failed", failure
            )
        )
        return closing

    def _event_from_thread(self, connection, domain, code, detail, opaque):
        event = domain_event(domain.name(), domain.UUIDString(), code, detail)
        if event is not None:
            self._reactor.callFromThread(self._events.receive, event)

    def _notify_reconnected(self):
        for listener in list(self._reconnect_listeners):
            try:
                listener()
            except Exception:
                self.log.failure(
                    "reconnect listener {listener!r} failed",
                    listener=listener,
                )

    def _fail_waiters(self, message):
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.errback(HostUnavailable(message))


def _ignore_error(context, error):
    """Keep libvirt from printing every error to stderr."""


def _name_and_uuid(domain_xml):
    try:
        root = ET.fromstring(domain_xml)
    except ET.ParseError as error:
        raise InvalidDomainXML(
            f"define failed: invalid XML: {error}"
        ) from None
    name = root.findtext("name")
    if not name:
        raise InvalidDomainXML("define failed: the domain XML has no <name>")
    return name, root.findtext("uuid")


def _raise_if_exists(connection, name, uuid, libvirt_error):
    existing = _unless_missing(connection.lookupByName, name, libvirt_error)
    if existing is None and uuid:
        existing = _unless_missing(
            connection.lookupByUUIDString, uuid, libvirt_error
        )
    if existing is not None:
        raise DomainExists(
            f"define domain {name!r} failed: domain {existing.name()!r} "
            f"with UUID {existing.UUIDString()} already exists",
            name,
        )


def _unless_missing(function, argument, libvirt_error):
    """Return ``function(argument)``, or ``None`` if no such domain."""
    try:
        return function(argument)
    except libvirt_error as error:
        if error.get_error_code() == _NO_DOMAIN:
            return None
        raise


def _node_info(connection):
    info = connection.getInfo()
    return NodeInfo(
        cores=info[2],
        memory=info[1] * 1024 * 1024,
        free_memory=connection.getFreeMemory(),
    )


def _close_quietly(connection, libvirt):
    # It fails when libvirtd has closed the connection already.
    with contextlib.suppress(libvirt.libvirtError):
        connection.unregisterCloseCallback()
    connection.close()
