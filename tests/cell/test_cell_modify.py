"""
ModifyInstanceRequest on the fake libvirt: the domain's vCPUs, memory
and autostart change for the next start, or live when asked.
"""

import xml.etree.ElementTree as ET

from nano.messages import (
    ModifyInstanceRequest,
    ModifyInstanceResponse,
    StartInstanceRequest,
)

from .cell_helpers import MIB, new_id
from .test_cell_handlers import HandlerTestCase

#: libvirt's VIR_DOMAIN_XML_INACTIVE: the definition for the next start.
INACTIVE = 2


def modify(instance_id, **fields):
    """Return a ModifyInstanceRequest for ``instance_id``."""
    return ModifyInstanceRequest(
        task_id="task-2", instance_id=instance_id, **fields
    )


class ModifyTests(HandlerTestCase):
    """ModifyInstanceRequest."""

    def domain(self, instance_id):
        return self.cell.libvirt.domain("nano-" + instance_id)

    def definition(self, instance_id, flags=INACTIVE):
        """Return the vCPUs and the KiB of memory of a domain's XML."""
        root = ET.fromstring(self.domain(instance_id).XMLDesc(flags))
        vcpu = root.find("vcpu")
        return (
            int(vcpu.get("current", vcpu.text)),
            int(root.findtext("currentMemory")),
        )

    def start(self, instance_id):
        request = StartInstanceRequest(task_id="t", instance_id=instance_id)
        self.successResultOf(self.cell.request(request))

    def test_stopped_instance_changes_for_next_start(self):
        """A stopped instance's definition gets the new values."""
        instance_id, _ = self.create()
        request = modify(
            instance_id, cores=4, memory=512 * MIB, auto_start=True
        )
        reply = self.successResultOf(self.cell.request(request))
        self.assertIsInstance(reply, ModifyInstanceResponse)
        self.assertEqual((reply.live, reply.state), (False, "stopped"))
        self.assertEqual(self.definition(instance_id), (4, 512 * 1024))
        self.assertEqual(self.domain(instance_id).autostart(), 1)

    def test_running_instance_without_immediate(self):
        """Without immediate, the running domain keeps its values."""
        instance_id, _ = self.create(cores=2)
        self.start(instance_id)
        reply = self.successResultOf(
            self.cell.request(modify(instance_id, cores=1))
        )
        self.assertEqual(reply.live, False)
        self.assertEqual(self.definition(instance_id)[0], 1)
        self.assertEqual(self.definition(instance_id, 0)[0], 2)

    def test_running_instance_immediate(self):
        """With immediate, the running domain changes too."""
        instance_id, _ = self.create(cores=2, memory=256 * MIB)
        self.start(instance_id)
        request = modify(
            instance_id, cores=1, memory=128 * MIB, immediate=True
        )
        reply = self.successResultOf(self.cell.request(request))
        self.assertEqual((reply.live, reply.state), (True, "running"))
        self.assertEqual(self.definition(instance_id, 0), (1, 128 * 1024))

    def test_live_growth_rejected(self):
        """
        A running domain cannot grow above what it started with; the
        rejection comes before anything changes.
        """
        instance_id, _ = self.create(cores=2, memory=256 * MIB)
        self.start(instance_id)
        before = self.definition(instance_id)
        self.fails(
            modify(instance_id, memory=512 * MIB, immediate=True),
            "invalid memory 536870912",
            "leave out immediate",
        )
        self.fails(
            modify(instance_id, cores=4, immediate=True),
            "invalid cores 4",
        )
        self.assertEqual(self.definition(instance_id), before)

    def test_unknown_instance(self):
        """An instance the Cell does not have gets an error reply."""
        self.fails(modify(new_id(), cores=2), "not found on this Cell")

    def test_invalid_fields_rejected(self):
        """A request with a wrong value cannot be built or decoded."""
        with self.assertRaises(TypeError):
            modify(new_id(), cores=0)
        with self.assertRaises(TypeError):
            modify(new_id(), auto_start="yes")
