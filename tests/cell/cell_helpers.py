"""
A Cell on fakes, driven synchronously: the fake libvirt, volumes as
small files, a real journal written at once, and a test Core that talks
to the Cell over an in-memory fabric on one clock.
"""

import os
import uuid as uuid_module
from pathlib import Path

from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from nano.cell._build import assemble
from nano.cell._settings import CellSettings
from nano.cell.storage import (
    InvalidVolume,
    StorageError,
    StorageUnwritable,
    VolumeExists,
    VolumeNotFound,
)
from nano.events._journal import open_journal
from nano.events.cell import CELL_EVENTS
from nano.fabric import Endpoint, FabricConfig, IPeerObserver, Session
from nano.fabric.testing import MemoryNetwork, run
from nano.messages import (
    NANO_MESSAGES,
    CellStatusReport,
    ComputeCellReady,
    InstanceDeleted,
    InstanceStarted,
    InstanceStopped,
)
from nano.testing.fake_libvirt import FakeLibvirt, fake_host

MIB = 1024 * 1024
GIB = 1024 * MIB
CELL_ADDRESS = ("10.213.7.2", 5600)
CORE_ADDRESS = ("10.213.7.1", 5600)


class FakeStorage:
    """
    ``LocalStorage``'s interface without qemu-img: each volume is a small
    real file in ``directory`` holding its size, so tests can check that
    nothing is left behind.

    :ivar failures: volume name -> exception that its create raises.
    """

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.failures = {}

    def path(self, name):
        return os.path.join(self.directory, name + ".qcow2")

    def create(self, name, size):
        if name in self.failures:
            return fail(self.failures[name])
        path = self.path(name)
        if os.path.exists(path):
            return fail(VolumeExists(f"volume {path} exists already", path))
        Path(path).write_text(str(size))
        return succeed(path)

    def create_from_image(self, name, image, size):
        if not os.path.exists(image):
            return fail(
                StorageError(f"qemu-img info failed for {image}", image)
            )
        # A test image that contains a number has that virtual size.
        content = Path(image).read_bytes()[:32]
        if content.isdigit() and int(content) > size:
            return fail(
                InvalidVolume(
                    f"invalid size {size} for volume {name!r}: smaller "
                    f"than image {image} ({int(content)} bytes)",
                    image,
                )
            )
        return self.create(name, size)

    def delete(self, name):
        path = self.path(name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return fail(VolumeNotFound(f"volume {path} not found", path))
        except OSError as error:
            return fail(
                StorageUnwritable(
                    f"delete volume {path} failed: {error.strerror}", path
                )
            )
        return succeed(None)

    def names(self):
        return sorted(
            entry.removesuffix(".qcow2")
            for entry in os.listdir(self.directory)
            if entry.endswith(".qcow2")
        )

    def capacity(self):
        return 100 * GIB, 60 * GIB


class SynchronousThread:
    """Run journal writes at once, in the calling thread."""

    def run(self, function, *args):
        try:
            return succeed(function(*args))
        except Exception:
            return fail()

    def stop(self):
        pass


@implementer(IPeerObserver)
class RecordingCore:
    """The Core side: a session that records what the Cell sends."""

    def __init__(self, clock):
        self.session = Session(clock, NANO_MESSAGES, self)
        self.received = []
        self.peers = []
        for message_type in (
            CellStatusReport,
            ComputeCellReady,
            InstanceStarted,
            InstanceStopped,
            InstanceDeleted,
        ):
            self.session.handle(message_type, self._record)

    def _record(self, peer, message):
        self.received.append(message)

    def of_type(self, message_type):
        """Return the messages received of one type."""
        return [m for m in self.received if isinstance(m, message_type)]

    def peer_connected(self, peer):
        self.peers.append(peer)

    def peer_lost(self, peer):
        pass

    def peer_recovered(self, peer):
        pass

    def peer_disconnected(self, peer, graceful):
        self.peers.remove(peer)

    def message_received(self, peer, message):
        pass


class CellHarness:
    """
    A Cell and a test Core on one clock.

    :param directory: contains the journal, volumes and console logs.
    :param libvirt: a :class:`FakeLibvirt` to share with an earlier
        harness, as after a restart.
    """

    def __init__(self, directory, libvirt=None, settings=None, start=True):
        self.directory = Path(directory).absolute()
        self.host, self.libvirt, self.clock = fake_host(
            libvirt or FakeLibvirt(), stop_delay=2.0
        )
        self.clock.advance(1_796_400_000)
        self.storage = FakeStorage(self.directory / "volumes")
        self.settings = settings or CellSettings(
            domain_type="qemu",
            storage_directory=self.storage.directory,
            bridge="nanobr0",
        )
        self.journal = open_journal(
            self.directory / "journal",
            CELL_EVENTS,
            self.clock,
            SynchronousThread(),
            64 * MIB,
        )
        self.parts = assemble(
            self.clock,
            "Cell_test",
            self.settings,
            self.journal,
            self.host,
            self.storage,
            str(self.directory / "consoles"),
        )
        self.book = self.parts.book
        self.core = RecordingCore(self.clock)
        self.network = MemoryNetwork(self.clock)
        config = FabricConfig(secret=bytes(range(32)))
        self.cell_endpoint = Endpoint(
            self.clock, config, self.parts.session, "Cell_test"
        )
        self.core_endpoint = Endpoint(
            self.clock, config, self.core.session, "Core"
        )
        self.network.attach(self.cell_endpoint, CELL_ADDRESS)
        self.network.attach(self.core_endpoint, CORE_ADDRESS)
        if start:
            self.start()

    def start(self):
        """Start libvirt and the Cell, and connect the Cell to Core."""
        self.host.startService()
        self.parts.service.startService()
        self.run(0)
        self.cell_endpoint.connect(CORE_ADDRESS)
        self.run(1, until=lambda: self.core.peers)
        self.run(1)

    def stop(self):
        """Stop the Cell, as a process that exits, and close its journal."""
        self.parts.reporter.stopService()
        closed = self.parts.service.stopService()
        self.host.stopService()
        self.network.detach(CELL_ADDRESS)
        self.run(1)
        return closed

    def run(self, seconds, until=None):
        """Advance the clock, one pending call at a time."""
        run(self.clock, seconds, until)

    def request(self, message, seconds=5):
        """Send a request as Core and return the reply's Deferred."""
        replied = self.core.session.request(self.core.peers[0], message)
        self.run(seconds, until=lambda: replied.called)
        return replied

    def domain_names(self):
        """Return the names of the domains libvirt has."""
        return sorted(domain.name() for domain in self.libvirt.domains())

    def journal_types(self):
        """Return the type names of the journalled events, in order."""
        return [event.type_name for _, event in self.journal.read()]


def new_id():
    """Return a new instance id."""
    return str(uuid_module.uuid4())
