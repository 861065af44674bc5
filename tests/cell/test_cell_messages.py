"""
The Core-Cell messages and the Cell's events: their JSON round trip,
their checks, and the Cell projection's fold and snapshots.
"""

import orjson
from twisted.trial.unittest import SynchronousTestCase

from nano.events import utc_time
from nano.events.cell import (
    CELL_EVENTS,
    InstanceCreated,
    InstanceCreateFailed,
    InstanceCreating,
    InstanceDeleted,
    InstanceDeleteFailed,
    InstanceDeleting,
    InstanceLost,
    InstanceStarted,
    InstanceStopped,
    VolumeCreated,
    VolumeDeleted,
)
from nano.fabric import MessageError
from nano.messages import (
    NANO_MESSAGES,
    CellStatusReport,
    ComputeCellReady,
    CreateInstanceRequest,
    StopInstanceRequest,
)
from nano.projections import PROJECTIONS, CellProjection, SnapshotFormatError

T0 = utc_time(1_796_400_000)
ID = "3e1c5a54-8a0e-4c4c-9d3b-5f2b8f7d2a10"


def decode(value):
    """Decode a message from a JSON object."""
    message, _ = NANO_MESSAGES.decode(orjson.dumps(value))
    return message


class MessageTests(SynchronousTestCase):
    """Messages on the wire."""

    def test_round_trip(self):
        """A request survives encoding and decoding unchanged."""
        request = CreateInstanceRequest(
            task_id="t1",
            instance_id=ID,
            name="vm",
            cores=2,
            memory=2**30,
            disks=[2**33, 2**34],
            template={"disk": "scsi"},
            mac="52:54:00:00:00:01",
            start=True,
        )
        message, _ = NANO_MESSAGES.decode(NANO_MESSAGES.encode(request))
        self.assertEqual(message, request)

    def test_defaults_and_unknown_fields(self):
        """Optional fields default; unknown fields are ignored."""
        message = decode(
            {
                "type": "StopInstanceRequest",
                "task_id": "t",
                "instance_id": ID,
                "newer_field": 1,
            }
        )
        self.assertEqual(
            message, StopInstanceRequest(task_id="t", instance_id=ID)
        )

    def test_invalid_values_named(self):
        """A wrong value is rejected naming the field and what is valid."""
        cases = [
            ({"cores": 0}, "invalid cores 0: must be a whole number, 1"),
            ({"cores": True}, "invalid cores True"),
            ({"memory": "1G"}, "invalid memory '1G'"),
            ({"disks": []}, "invalid disks []: must be a non-empty list"),
            ({"disks": [1, -1]}, "invalid disks [1, -1]"),
            ({"template": []}, "invalid template []: must be a JSON object"),
            ({"start": "yes"}, "invalid start 'yes': must be true or false"),
        ]
        base = {
            "type": "CreateInstanceRequest",
            "task_id": "t",
            "instance_id": ID,
            "name": "vm",
            "cores": 1,
            "memory": 2**27,
            "disks": [2**30],
        }
        for change, expected in cases:
            with self.assertRaises(MessageError) as caught:
                decode({**base, **change})
            self.assertIn(expected, str(caught.exception))

    def test_missing_fields_named(self):
        """A request without its task id is rejected, naming it."""
        with self.assertRaises(MessageError) as caught:
            decode({"type": "StartInstanceRequest", "instance_id": ID})
        self.assertIn("missing field(s) task_id", str(caught.exception))

    def test_status_report_load_range(self):
        """The CPU load must be a share from 0 to 1."""
        fields = dict.fromkeys(
            [
                "cores",
                "memory",
                "memory_available",
                "disk",
                "disk_available",
                "instances",
                "running",
                "stopped",
            ],
            1,
        )
        report = CellStatusReport(cell="c", cpu_load=0.5, **fields)
        self.assertEqual(report.cpu_load, 0.5)
        with self.assertRaises(TypeError) as caught:
            CellStatusReport(cell="c", cpu_load=1.5, **fields)
        self.assertIn("a number from 0 to 1", str(caught.exception))

    def test_cell_ready_lists(self):
        """ComputeCellReady takes lists of objects and of names."""
        ready = decode(
            {
                "type": "ComputeCellReady",
                "cell": "c",
                "instances": [{"id": ID}],
            }
        )
        self.assertEqual(ready.unknown_domains, [])
        with self.assertRaises(MessageError) as caught:
            decode({"type": "ComputeCellReady", "cell": "c", "instances": 1})
        self.assertIn("invalid instances 1", str(caught.exception))
        with self.assertRaises(TypeError):
            ComputeCellReady(cell="c", instances=[1])


def creating(instance_id=ID, **fields):
    """Return an InstanceCreating event."""
    values = {
        "name": "vm",
        "cores": 1,
        "memory": 2**27,
        "disks": (2**30,),
        "disk_bus": "virtio",
        "nic_model": "virtio",
        "display": "vga",
        "control": "vnc",
        "usb": "none",
        "tablet": "usb",
        "mac": None,
        "image": None,
    }
    values.update(fields)
    return InstanceCreating(
        aggregate_id=instance_id, time=T0, task_id="t1", **values
    )


def event(event_type, **fields):
    """Return an event about the instance ID."""
    return event_type(aggregate_id=ID, time=T0, **fields)


class ProjectionTests(SynchronousTestCase):
    """CellProjection's fold and snapshots."""

    projection = CellProjection()

    def fold(self, events):
        return self.projection.apply_all(self.projection.initial(), events)

    def test_registered(self):
        """nano-journal finds the projection by name."""
        self.assertIsInstance(PROJECTIONS["cell"], CellProjection)

    def test_lifecycle(self):
        """Each event moves the instance to its state."""
        steps = [
            (creating(), "creating"),
            (event(VolumeCreated, volume=f"{ID}-0", size=2**30), "creating"),
            (event(InstanceCreated, domain="nano-" + ID), "stopped"),
            (event(InstanceStarted), "running"),
            (event(InstanceStopped, reason="shutdown"), "stopped"),
            (event(InstanceLost, reason="gone"), "lost"),
            (event(InstanceDeleting), "deleting"),
            (
                event(InstanceDeleteFailed, error="x", state="stopped"),
                "stopped",
            ),
        ]
        state = self.projection.initial()
        for step, expected in steps:
            state = self.projection.apply(state, step)
            self.assertEqual(state.instances[ID].state, expected)
        self.assertEqual(state.instances[ID].volumes, (f"{ID}-0",))
        self.assertEqual(state.instances[ID].stop_reason, "shutdown")
        state = self.projection.apply(state, event(InstanceDeleted))
        self.assertEqual(dict(state.instances), {})

    def test_failed_create_removed(self):
        """A failed create leaves no instance."""
        state = self.fold([creating(), event(InstanceCreateFailed, error="x")])
        self.assertEqual(dict(state.instances), {})

    def test_volume_deleted(self):
        """A deleted volume leaves the instance's volume list."""
        state = self.fold(
            [
                creating(),
                event(VolumeCreated, volume="a", size=1),
                event(VolumeCreated, volume="b", size=1),
                event(VolumeDeleted, volume="a"),
            ]
        )
        self.assertEqual(state.instances[ID].volumes, ("b",))

    def test_events_of_unknown_instance(self):
        """Events about an instance the state lacks change nothing."""
        initial = self.projection.initial()
        state = self.fold([event(InstanceStarted), event(InstanceDeleted)])
        self.assertEqual(state, initial)

    def test_apply_all_equals_apply(self):
        """Folding a batch gives what folding one by one gives."""
        events = [
            creating(),
            creating(instance_id="b"),
            event(InstanceCreated, domain="d"),
            event(InstanceStarted),
        ]
        one_by_one = self.projection.initial()
        for item in events:
            one_by_one = self.projection.apply(one_by_one, item)
        self.assertEqual(self.fold(events), one_by_one)

    def test_snapshot_round_trip(self):
        """to_json and from_json give back the same state, via JSON."""
        state = self.fold(
            [
                creating(mac="52:54:00:00:00:01"),
                event(VolumeCreated, volume="v", size=1),
                event(InstanceStopped, reason="shutdown"),
            ]
        )
        data = orjson.loads(orjson.dumps(self.projection.to_json(state)))
        self.assertEqual(self.projection.from_json(data), state)

    def test_bad_snapshots(self):
        """Snapshots of another shape are rejected."""
        state = self.fold([creating()])
        good = self.projection.to_json(state)
        broken_fields = {**good["instances"][ID]}
        del broken_fields["name"]
        broken_disks = {**good["instances"][ID], "disks": 5}
        for data in [
            {"version": 2, "instances": {}},
            {"version": 1},
            {"version": 1, "instances": {ID: broken_fields}},
            {"version": 1, "instances": {ID: broken_disks}},
        ]:
            with self.assertRaises(SnapshotFormatError):
                self.projection.from_json(data)

    def test_events_round_trip(self):
        """Every Cell event survives the journal codec."""
        events = [
            creating(disks=[1, 2]),
            event(VolumeCreated, volume="v", size=1),
            event(InstanceDeleteFailed, error="e", state="running"),
        ]
        for item in events:
            record = orjson.loads(orjson.dumps(CELL_EVENTS.encode(item)))
            self.assertEqual(CELL_EVENTS.decode(record), item)

    def test_event_checks(self):
        """Events reject sizes that are not positive whole numbers."""
        with self.assertRaises(TypeError):
            creating(cores=0)
        with self.assertRaises(TypeError):
            creating(disks=())
        with self.assertRaises(TypeError):
            event(VolumeCreated, volume="v", size=True)
