"""
Core with its Cells on an in-memory fabric, all on the test clock.

Core has its API and cluster. Each fake Cell sends what a real Cell
sends: a ``ComputeCellReady`` when it connects and as the reply to
``ComputePoolReady``, and status reports when the test asks.
"""

from api_helpers import CREDENTIALS, ApiTestCase
from treq.testing import StubTreq
from zope.interface import implementer

from nano.core._cluster import Cluster
from nano.core.api import build_api
from nano.fabric import Endpoint, FabricConfig, IPeerObserver, Session
from nano.fabric.testing import MemoryNetwork, run
from nano.messages import (
    NANO_MESSAGES,
    CellStatusReport,
    ComputeCellReady,
    ComputePoolReady,
    InstanceDeleted,
    InstanceStarted,
    InstanceStopped,
)

GIB = 1024**3
CORE_ADDRESS = ("10.213.8.1", 5600)
CONFIG = FabricConfig(secret=bytes(range(32)))
#: Seconds a Cell waits before it connects again after losing Core.
RECONNECT_DELAY = 3.0


def instance(instance_id, state="running", cores=2, memory=2 * GIB):
    """Return an instance description as a Cell sends it."""
    return {
        "id": instance_id,
        "name": f"vm-{instance_id}",
        "state": state,
        "cores": cores,
        "memory": memory,
        "disks": [10 * GIB],
        "template": {},
        "mac": None,
        "image": None,
        "stop_reason": None,
    }


@implementer(IPeerObserver)
class FakeCell:
    """
    A Cell's fabric side, without libvirt.

    :ivar instances: the descriptions it sends in ``ComputeCellReady``.
    :ivar pools: the ``ComputePoolReady`` requests it received.
    :ivar pool_error: if set, the Cell replies to ``ComputePoolReady``
        with this error.
    """

    def __init__(self, network, name, address, instances=()):
        self.network = network
        self.name = name
        self.address = address
        self.instances = list(instances)
        self.pools = []
        self.pool_error = None
        self.core = None
        self.session = Session(network.clock, NANO_MESSAGES, self)
        self.session.handle(ComputePoolReady, self._pool_ready)
        self.endpoint = None
        self.attach()

    def attach(self):
        """Bind a new endpoint, as a Cell process does when it starts."""
        self.endpoint = Endpoint(
            self.network.clock, CONFIG, self.session, self.name
        )
        self.network.attach(self.endpoint, self.address)

    def connect(self):
        """Connect to Core."""
        self.endpoint.connect(CORE_ADDRESS)

    def stop(self):
        """Vanish, as a Cell whose process is killed."""
        self.network.detach(self.address)
        self.core = None

    def report(self, **fields):
        """Send a status report; ``fields`` override the defaults."""
        values = {
            "cell": self.name,
            "cores": 8,
            "cpu_load": 0.25,
            "memory": 32 * GIB,
            "memory_available": 24 * GIB,
            "disk": 500 * GIB,
            "disk_available": 400 * GIB,
            "instances": len(self.instances),
            "running": 0,
            "stopped": 0,
        }
        values.update(fields)
        self.session.send(self.core, CellStatusReport(**values))

    def send(self, message):
        """Send a one-way message to Core."""
        self.session.send(self.core, message)

    def started(self, instance_id):
        """Tell Core an instance started."""
        self.send(InstanceStarted(cell=self.name, instance_id=instance_id))

    def stopped(self, instance_id):
        """Tell Core an instance stopped."""
        self.send(
            InstanceStopped(
                cell=self.name, instance_id=instance_id, reason="shutdown"
            )
        )

    def deleted(self, instance_id):
        """Tell Core an instance is gone."""
        self.send(InstanceDeleted(cell=self.name, instance_id=instance_id))

    def cell_ready(self, pool=None):
        """Return the ``ComputeCellReady`` of this Cell."""
        return ComputeCellReady(
            cell=self.name, pool=pool, instances=list(self.instances)
        )

    def _pool_ready(self, peer, message):
        self.pools.append(message)
        if self.pool_error is not None:
            raise RuntimeError(self.pool_error)
        return self.cell_ready(message.pool)

    def peer_connected(self, peer):
        self.core = peer
        self.send(self.cell_ready())

    def peer_lost(self, peer):
        pass

    def peer_recovered(self, peer):
        pass

    def peer_disconnected(self, peer, graceful):
        if peer is self.core:
            self.core = None
        if self.network.attached(self.address) is self.endpoint:
            self.network.clock.callLater(RECONNECT_DELAY, self.connect)

    def message_received(self, peer, message):
        pass


class ClusterTestCase(ApiTestCase):
    """Core's API and cluster on an in-memory fabric, with fake Cells."""

    def setUp(self):
        super().setUp()
        self.network = MemoryNetwork(self.clock)
        self.cells = {}
        self.start_core()

    def start_core(self):
        """Build Core's cluster, session, endpoint and API on the journal."""
        self.cluster = Cluster(self.live, self.clock)
        self.session = Session(self.clock, NANO_MESSAGES, self.cluster)
        self.cluster.register(self.session)
        self.core_endpoint = Endpoint(
            self.clock, CONFIG, self.session, "Core_test"
        )
        self.network.attach(self.core_endpoint, CORE_ADDRESS)
        self.api = build_api(
            self.live, CREDENTIALS, self.clock, self.api.make_id, self.cluster
        )
        self.stub = StubTreq(self.api.resource())

    def add_cell(self, name, instances=(), number=None):
        """Start a fake Cell and connect it to Core."""
        number = len(self.cells) + 2 if number is None else number
        cell = FakeCell(
            self.network, name, (f"10.213.8.{number}", 5600), instances
        )
        self.cells[name] = cell
        cell.connect()
        self.advance(2, until=lambda: self.cluster.cell(name) is not None)
        self.advance(0.1)
        return cell

    def advance(self, seconds, until=None):
        """Advance the clock, one pending call at a time."""
        run(self.clock, seconds, until)
