"""Tests of Core's address allocation over a real journal."""

import shutil
import tempfile
from pathlib import Path

from api_helpers import SynchronousThread
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nano.core._addresses import AddressError, Addresses
from nano.events import utc_time
from nano.events._journal import open_journal
from nano.events.addresses import AddressPoolCreated, AddressRangeAdded
from nano.events.core import CORE_EVENTS
from nano.projections import CoreProjection, LiveProjection, load

MASK = "255.255.255.0"


class Core:
    """Core's journal, state and allocator, which a test can restart."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.clock = Clock()
        self.clock.advance(1_796_400_000)
        self.open()

    def open(self):
        self.journal = open_journal(
            self.directory, CORE_EVENTS, self.clock, SynchronousThread(), 2**26
        )
        self.live = LiveProjection(CoreProjection(), self.journal)
        self.addresses = Addresses(self.live, self.clock)

    def restart(self):
        """Close the journal and load everything again from disk."""
        self.close()
        self.open()

    def close(self):
        self.journal.close()
        self.clock.advance(0)

    def settle(self):
        """Let the journal write what was appended."""
        self.clock.advance(0)

    def record(self, event_type, pool="lan", **fields):
        event = event_type(
            aggregate_id=pool, time=utc_time(self.clock.seconds()), **fields
        )
        recorded = self.live.record(event)
        self.settle()
        return recorded

    def create_pool(self, pool="lan", gateway="10.213.7.1", mode="internal"):
        self.record(
            AddressPoolCreated,
            pool,
            gateway=gateway,
            dns=["10.213.7.1"],
            provider="dhcp",
            mode=mode,
        )

    def add_range(self, start, end, pool="lan", range_type="internal"):
        self.record(
            AddressRangeAdded,
            pool,
            range_type=range_type,
            start=start,
            end=end,
            netmask=MASK,
        )


class AllocationTests(SynchronousTestCase):
    """Allocate and release one address per instance."""

    def setUp(self):
        self.core = Core(Path(self.mktemp()))
        self.addCleanup(self.core.close)
        self.core.create_pool()
        self.core.add_range("10.213.7.1", "10.213.7.4")
        self.addresses = self.core.addresses

    def allocate(self, instance, pool="lan"):
        allocating = self.addresses.allocate(pool, instance, "task-1")
        self.core.settle()
        return allocating

    def on_disk(self):
        return load(CoreProjection(), self.core.journal).state.addresses

    def test_allocate_returns_network(self):
        """An allocation returns the network settings a Cell needs."""
        network = self.successResultOf(self.allocate("i-1"))
        self.assertEqual(
            network,
            {
                "address": "10.213.7.2",
                "prefix": 24,
                "gateway": "10.213.7.1",
                "dns": ["10.213.7.1"],
                "provider": "dhcp",
            },
        )
        self.assertEqual(self.on_disk().instances["i-1"], "10.213.7.2")

    def test_no_result_before_disk(self):
        """The allocation fires only once its event is on disk."""
        allocating = self.addresses.allocate("lan", "i-1", "task-1")
        self.assertNoResult(allocating)
        self.assertEqual(dict(self.on_disk().instances), {})
        self.core.settle()
        self.assertEqual(
            self.successResultOf(allocating)["address"], "10.213.7.2"
        )

    def test_concurrent_allocations_differ(self):
        """Allocations requested together get different addresses."""
        pending = [
            self.addresses.allocate("lan", f"i-{number}", f"task-{number}")
            for number in range(3)
        ]
        self.core.settle()
        addresses = [self.successResultOf(each)["address"] for each in pending]
        self.assertEqual(addresses, ["10.213.7.2", "10.213.7.3", "10.213.7.4"])

    def test_full_pool(self):
        """A pool with no free address fails with the fix."""
        for number in range(3):
            self.successResultOf(self.allocate(f"i-{number}"))
        failure = self.failureResultOf(self.allocate("i-9"), AddressError)
        self.assertIn(
            "no free address in its internal ranges", str(failure.value)
        )
        self.assertIn(
            "/address_pools/lan/internal/ranges/", str(failure.value)
        )
        self.assertNotIn("i-9", self.on_disk().instances)

    def test_unknown_pool(self):
        """An unknown pool fails naming it."""
        failure = self.failureResultOf(
            self.allocate("i-1", "nope"), AddressError
        )
        self.assertIn("address pool 'nope' not found", str(failure.value))

    def test_external_mode(self):
        """A pool in external mode allocates from its external ranges."""
        self.core.create_pool("dmz", "10.213.9.1", mode="external")
        self.core.add_range("10.213.9.10", "10.213.9.11", "dmz", "internal")
        self.core.add_range("10.213.9.20", "10.213.9.21", "dmz", "external")
        network = self.successResultOf(self.allocate("i-1", "dmz"))
        self.assertEqual(network["address"], "10.213.9.20")

    def test_allocate_twice_keeps_address(self):
        """A second allocation for one instance records nothing new."""
        first = self.successResultOf(self.allocate("i-1"))
        position = self.core.journal.last_seq
        second = self.successResultOf(self.allocate("i-1"))
        self.assertEqual(first, second)
        self.assertEqual(self.core.journal.last_seq, position)

    def test_release_frees_address(self):
        """A released address is allocated again, lowest first."""
        self.successResultOf(self.allocate("i-1"))
        self.successResultOf(self.allocate("i-2"))
        released = self.addresses.release("i-1", "task-2")
        self.core.settle()
        self.assertIsNone(self.successResultOf(released))
        self.assertNotIn("i-1", self.on_disk().instances)
        self.assertIsNone(self.addresses.network("i-1"))
        network = self.successResultOf(self.allocate("i-3"))
        self.assertEqual(network["address"], "10.213.7.2")

    def test_release_without_address(self):
        """Releasing an instance with no address records nothing."""
        position = self.core.journal.last_seq
        self.assertIsNone(
            self.successResultOf(self.addresses.release("i-1", "t"))
        )
        self.assertEqual(self.core.journal.last_seq, position)

    def test_restart_keeps_allocations(self):
        """Allocations come back from the journal after a restart."""
        self.successResultOf(self.allocate("i-1"))
        self.core.restart()
        self.addresses = self.core.addresses
        self.assertEqual(
            self.addresses.network("i-1")["address"], "10.213.7.2"
        )
        network = self.successResultOf(self.allocate("i-2"))
        self.assertEqual(network["address"], "10.213.7.3")

    def test_failed_write_allocates_nothing(self):
        """An allocation whose write fails leaves the address free."""
        self.core.journal.close()
        self.core.settle()
        self.failureResultOf(self.allocate("i-1"))
        self.assertEqual(dict(self.addresses.state.instances), {})


# Random interleavings: each step is a batch of requests sent together,
# then written together, or a restart of Core from its journal.

INSTANCES = [f"i-{number}" for number in range(6)]
requests = st.tuples(
    st.sampled_from(["allocate", "release"]), st.sampled_from(INSTANCES)
)
steps = st.one_of(
    st.lists(requests, min_size=1, max_size=4),
    st.just("restart"),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(steps, max_size=12))
def test_interleavings_never_double_book(script):
    """
    Whatever the order of allocations, releases and restarts, no address
    has two instances, and every instance that should have an address
    has exactly one, from the pool's ranges.
    """
    directory = Path(tempfile.mkdtemp(prefix="nano-addresses-"))
    core = Core(directory)
    try:
        core.create_pool()
        # Five usable addresses for six instances, so the pool fills up.
        core.add_range("10.213.7.1", "10.213.7.3")
        core.add_range("10.213.7.252", "10.213.7.255")
        expected = set()
        for step in script:
            if step == "restart":
                core.restart()
            else:
                expected = run_batch(core, step, expected)
            check_invariants(core.addresses.state, expected)
            check_invariants(
                load(CoreProjection(), core.journal).state.addresses, expected
            )
    finally:
        core.close()
        shutil.rmtree(directory)


def run_batch(core, batch, expected):
    """Send the batch's requests together, then let them all be written."""
    pending = []
    for action, instance in batch:
        if action == "allocate":
            pending.append(
                (
                    action,
                    instance,
                    core.addresses.allocate("lan", instance, "t"),
                )
            )
        else:
            pending.append(
                (action, instance, core.addresses.release(instance, "t"))
            )
    core.settle()
    expected = set(expected)
    for action, instance, deferred in pending:
        results = []
        deferred.addBoth(results.append)
        [result] = results
        if action == "release":
            assert result is None
            expected.discard(instance)
        elif isinstance(result, dict):
            expected.add(instance)
        else:
            assert result.check(AddressError), result
            assert "no free address" in str(result.value)
            assert len(expected) == 5
    return expected


#: The gateway 10.213.7.1 and the broadcast address 10.213.7.255 are
#: left out of the two ranges.
USABLE = {
    "10.213.7.2",
    "10.213.7.3",
    "10.213.7.252",
    "10.213.7.253",
    "10.213.7.254",
}


def check_invariants(state, expected):
    """Check one address per instance, from the ranges, and no leak."""
    assert set(state.instances) == expected
    assert len(set(state.instances.values())) == len(state.instances)
    assert set(state.allocations) == set(state.instances.values())
    for address, allocation in state.allocations.items():
        assert state.instances[allocation.instance] == address
        assert address in USABLE
