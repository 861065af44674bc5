"""
Unit tests for :class:`nano.cell.libvirt.Host` on the fake libvirt: the
connection's lifecycle, reconnection, and event delivery with STOPPED
held back.
"""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from nano.cell.libvirt import (
    DomainEvent,
    DomainExists,
    DomainNotFound,
    DomainState,
    DomainStatus,
    HostUnavailable,
    HypervisorError,
    InvalidDomainSpec,
    InvalidDomainXML,
    LifecycleEvent,
)
from nano.testing.fake_libvirt import ImmediateThread, fake_host

UUID = "3e1c5a54-8a0e-4c4c-9d3b-5f2b8f7d2a10"


def domain_xml(name="vm1", uuid=None):
    """Return a minimal domain definition."""
    uuid_element = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (
        f"<domain type='test'><name>{name}</name>{uuid_element}"
        "<memory unit='KiB'>131072</memory><vcpu>1</vcpu>"
        "<os><type>hvm</type></os></domain>"
    )


class HostTestCase(SynchronousTestCase):
    """A started host on a fake libvirt, recording every event."""

    stop_delay = 2.0

    def setUp(self):
        self.host, self.libvirt, self.clock = fake_host(
            stop_delay=self.stop_delay
        )
        self.events = []
        self.host.add_event_listener(self.events.append)
        self.host.startService()
        self.addCleanup(self.host.stopService)

    def define(self, name="vm1", uuid=None):
        """Define a domain and return its :class:`Guest`."""
        return self.successResultOf(self.host.define(domain_xml(name, uuid)))

    def kinds(self):
        """Return the kinds of the events received so far."""
        return [event.kind for event in self.events]


class ConnectionTests(HostTestCase):
    """Opening, losing and closing the connection."""

    def test_start_connects(self):
        """Starting the service opens one connection."""
        self.successResultOf(self.host.when_connected())
        self.assertEqual(self.libvirt.opened, 1)

    def test_registers_quiet_error_handler(self):
        """libvirt's default handler printing to stderr is replaced."""
        self.assertIsNotNone(self.libvirt.error_handler)

    def test_call_before_start_fails(self):
        """A call on a host that is not started fails at once."""
        host, _, _ = fake_host()
        failure = self.failureResultOf(host.lookup("vm1"), HostUnavailable)
        self.assertIn("not connected to libvirt", str(failure.value))
        self.assertIn("fake:///default", str(failure.value))

    def test_stop_closes_and_fails_waiters(self):
        """Stopping closes the connection; later calls fail."""
        self.successResultOf(self.host.stopService())
        self.failureResultOf(self.host.guests(), HostUnavailable)
        self.failureResultOf(self.host.when_connected(), HostUnavailable)

    def test_retries_with_growing_delay(self):
        """An unreachable libvirtd is retried after 1, 2, 4 s."""
        host, libvirt, clock = fake_host()
        libvirt.refuse_connections = True
        with capturedLogs() as logs:
            host.startService()
            clock.advance(1)
            clock.advance(2)
        waiting = host.when_connected()
        self.assertNoResult(waiting)
        self.assertEqual([log["delay"] for log in logs], [1.0, 2.0, 4.0])
        self.assertIn("No such file", str(logs[0]["error"]))

        libvirt.refuse_connections = False
        clock.advance(4)
        self.successResultOf(waiting)
        self.successResultOf(host.stopService())

    def test_stop_cancels_retry(self):
        """Stopping while waiting to retry leaves no pending call."""
        host, libvirt, clock = fake_host()
        libvirt.refuse_connections = True
        host.startService()
        self.successResultOf(host.stopService())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_reconnects_after_daemon_restart(self):
        """A closed connection is reopened and reconnect listeners called."""
        reconnects = []
        self.host.add_reconnect_listener(lambda: reconnects.append(True))
        with capturedLogs() as logs:
            self.libvirt.restart_daemon()
        self.assertIn("lost the connection", logs[0]["log_format"])
        self.assertEqual(logs[0]["reason"], "end of file")
        self.failureResultOf(self.host.guests(), HostUnavailable)

        self.clock.advance(1)
        self.assertEqual(self.libvirt.opened, 2)
        self.assertEqual(reconnects, [True])

    def test_events_after_reconnect(self):
        """Events arrive on the new connection, and guests still work."""
        guest = self.define()
        self.libvirt.restart_daemon()
        self.clock.advance(1)
        self.successResultOf(guest.start())
        self.assertEqual(self.kinds()[-1], LifecycleEvent.STARTED)

    def test_closed_connection_error(self):
        """A call on a connection closed under it is HostUnavailable."""
        guest = self.define()
        self.host._connection.lose(0, notify=False)
        failure = self.failureResultOf(guest.start(), HostUnavailable)
        self.assertIn("client socket is closed", str(failure.value))


class QueuedThread(ImmediateThread):
    """Runs submitted calls only when the test calls :meth:`run_next`."""

    def __init__(self):
        self.queue = []

    def run(self, function, *args, **kwargs):
        """Queue the call; return a Deferred for its result."""
        result = Deferred()
        self.queue.append((result, function, args, kwargs))
        return result

    def run_next(self):
        """Run the oldest queued call."""
        result, function, args, kwargs = self.queue.pop(0)
        maybeDeferred(function, *args, **kwargs).chainDeferred(result)


class SlowConnectTests(SynchronousTestCase):
    """Stopping while the connection is still being opened."""

    def test_stop_while_connecting(self):
        """A connection that opens after stop is closed at once."""
        thread = QueuedThread()
        host, libvirt, _ = fake_host(thread=thread)
        host.startService()
        self.successResultOf(host.stopService())

        thread.run_next()
        (connection,) = libvirt._connections
        self.assertEqual(connection.isAlive(), 0)
        self.failureResultOf(host.guests(), HostUnavailable)


class LookupTests(HostTestCase):
    """Defining, finding and listing domains."""

    def test_define_returns_guest(self):
        """define returns a Guest with the domain's name and UUID."""
        guest = self.define(uuid=UUID)
        self.assertEqual(guest.name, "vm1")
        self.assertEqual(guest.uuid, UUID)

    def test_define_duplicate_name(self):
        """A second domain with a taken name is rejected."""
        self.define()
        failure = self.failureResultOf(
            self.host.define(domain_xml()), DomainExists
        )
        self.assertIn("'vm1'", str(failure.value))
        self.assertEqual(failure.value.domain, "vm1")

    def test_define_duplicate_uuid(self):
        """A new name with a taken UUID is rejected, not a rename."""
        self.define(uuid=UUID)
        failure = self.failureResultOf(
            self.host.define(domain_xml("vm2", UUID)), DomainExists
        )
        self.assertIn(UUID, str(failure.value))

    def test_define_invalid_xml(self):
        """XML that does not parse is rejected before libvirt."""
        failure = self.failureResultOf(
            self.host.define("<domain><name>x"), InvalidDomainXML
        )
        self.assertIn("invalid XML", str(failure.value))

    def test_define_without_name(self):
        """XML with no name is rejected with that reason."""
        failure = self.failureResultOf(
            self.host.define("<domain/>"), InvalidDomainXML
        )
        self.assertIn("no <name>", str(failure.value))

    def test_define_rejected_by_libvirt(self):
        """libvirt's XML errors become InvalidDomainXML."""
        failure = self.failureResultOf(
            self.host.define(domain_xml("a/b")), InvalidDomainXML
        )
        self.assertIn("cannot contain '/'", str(failure.value))
        self.assertEqual(failure.value.code, 27)

    def test_lookup_unknown(self):
        """An unknown name fails with DomainNotFound naming it."""
        failure = self.failureResultOf(
            self.host.lookup("nothing"), DomainNotFound
        )
        self.assertIn("'nothing'", str(failure.value))

    def test_guests_and_states(self):
        """guests and domain_states list every domain."""
        self.define("vm1", UUID)
        self.successResultOf(self.define("vm2").start())
        names = [
            guest.name for guest in self.successResultOf(self.host.guests())
        ]
        states = self.successResultOf(self.host.domain_states())
        self.assertEqual(sorted(names), ["vm1", "vm2"])
        self.assertIn(DomainStatus("vm1", UUID, DomainState.STOPPED), states)
        self.assertIn(DomainState.RUNNING, [status.state for status in states])

    def test_node_info(self):
        """node_info gives cores and memory in bytes."""
        info = self.successResultOf(self.host.node_info())
        self.assertEqual(info.cores, 16)
        self.assertEqual(info.memory, 3072 * 1024 * 1024)
        self.assertEqual(info.free_memory, 3145728)


GRAPHICS_XML = (
    "<domain type='test'><name>vm1</name>"
    "<memory unit='MiB'>128</memory><os><type>hvm</type></os>"
    "<devices><graphics type='vnc' autoport='yes' passwd='old12345'/>"
    "</devices></domain>"
)


class GraphicsPasswordTests(HostTestCase):
    """Replacing the VNC password."""

    def graphics(self, guest):
        """Return the graphics element of the secure XML."""
        xml = self.successResultOf(guest.xml(secure=True))
        return ET.fromstring(xml).find("devices/graphics")

    def test_replace(self):
        """The new password replaces the old, with no expiry."""
        guest = self.successResultOf(self.host.define(GRAPHICS_XML))
        self.successResultOf(guest.start())
        self.successResultOf(guest.set_graphics_password("new12345"))
        graphics = self.graphics(guest)
        self.assertEqual(graphics.get("passwd"), "new12345")
        self.assertIsNone(graphics.get("passwdValidTo"))

    def test_expiry(self):
        """An expiry time is written in libvirt's format, in UTC."""
        guest = self.successResultOf(self.host.define(GRAPHICS_XML))
        valid_until = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
        self.successResultOf(guest.set_graphics_password("pw", valid_until))
        graphics = self.graphics(guest)
        self.assertEqual(graphics.get("passwdValidTo"), "2030-01-02T03:04:05")

    def test_invalid_password(self):
        """A password over 8 characters is rejected before libvirt."""
        guest = self.successResultOf(self.host.define(GRAPHICS_XML))
        with self.assertRaises(InvalidDomainSpec) as caught:
            guest.set_graphics_password("123456789")
        self.assertIn("1 to 8 characters", str(caught.exception))
        self.assertEqual(self.graphics(guest).get("passwd"), "old12345")

    def test_no_display(self):
        """A domain without VNC or SPICE fails, naming the domain."""
        guest = self.define()
        failure = self.failureResultOf(
            guest.set_graphics_password("pw"), HypervisorError
        )
        self.assertIn("'vm1'", str(failure.value))
        self.assertIn("no VNC or SPICE display", str(failure.value))


class EventTests(HostTestCase):
    """Lifecycle events, mapped and with STOPPED held back."""

    def test_define_and_start(self):
        """Defining and starting give DEFINED then STARTED."""
        self.successResultOf(self.define(uuid=UUID).start())
        self.assertEqual(
            self.events,
            [
                DomainEvent("vm1", UUID, LifecycleEvent.DEFINED),
                DomainEvent("vm1", UUID, LifecycleEvent.STARTED),
            ],
        )

    def test_stopped_held_back(self):
        """STOPPED arrives only after the delay, with its reason."""
        guest = self.define(uuid=UUID)
        self.successResultOf(guest.start())
        self.successResultOf(guest.destroy())
        self.assertNotIn(LifecycleEvent.STOPPED, self.kinds())

        self.clock.advance(1.9)
        self.assertNotIn(LifecycleEvent.STOPPED, self.kinds())
        self.clock.advance(0.1)
        self.assertEqual(
            self.events[-1],
            DomainEvent("vm1", UUID, LifecycleEvent.STOPPED, "destroyed"),
        )

    def test_restart_hides_stopped(self):
        """STARTED soon after STOPPED drops the STOPPED event."""
        guest = self.define()
        self.successResultOf(guest.start())
        self.successResultOf(guest.destroy())
        self.successResultOf(guest.start())
        self.clock.advance(10)
        self.assertEqual(
            self.kinds(),
            [
                LifecycleEvent.DEFINED,
                LifecycleEvent.STARTED,
                LifecycleEvent.STARTED,
            ],
        )

    def test_other_event_releases_stopped(self):
        """UNDEFINED right after STOPPED delivers both, in order."""
        guest = self.define()
        self.successResultOf(guest.start())
        self.successResultOf(guest.destroy())
        self.successResultOf(guest.undefine())
        self.assertEqual(
            self.kinds()[-2:],
            [LifecycleEvent.STOPPED, LifecycleEvent.UNDEFINED],
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_crash_not_held(self):
        """A QEMU failure is CRASHED at once, never held back."""
        guest = self.define()
        self.successResultOf(guest.start())
        self.libvirt.domain("vm1").crash()
        self.assertEqual(self.kinds()[-1], LifecycleEvent.CRASHED)

    def test_guest_power_off(self):
        """A shutdown inside the guest gives SHUT_DOWN, then STOPPED."""
        guest = self.define()
        self.successResultOf(guest.start())
        self.libvirt.domain("vm1").power_off_from_guest()
        self.clock.advance(2)
        self.assertEqual(
            self.kinds()[-2:],
            [LifecycleEvent.SHUT_DOWN, LifecycleEvent.STOPPED],
        )
        self.assertEqual(self.events[-1].reason, "shutdown")

    def test_pause_resume(self):
        """Suspend and resume map to PAUSED and RESUMED."""
        self.successResultOf(self.define().start())
        self.libvirt.domain("vm1").suspend()
        self.libvirt.domain("vm1").resume()
        self.assertEqual(
            self.kinds()[-2:],
            [LifecycleEvent.PAUSED, LifecycleEvent.RESUMED],
        )

    def test_failing_listener_logged(self):
        """A listener that raises is logged; the others still run."""

        def broken(event):
            raise RuntimeError("listener bug")

        self.host.remove_event_listener(self.events.append)
        self.host.add_event_listener(broken)
        self.host.add_event_listener(self.events.append)
        with capturedLogs() as logs:
            self.define()
        self.assertEqual(self.kinds(), [LifecycleEvent.DEFINED])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIn("listener", logs[0]["log_format"])

    def test_stop_discards_held(self):
        """Stopping the host drops held events and their timers."""
        guest = self.define()
        self.successResultOf(guest.start())
        self.successResultOf(guest.destroy())
        self.successResultOf(self.host.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])
