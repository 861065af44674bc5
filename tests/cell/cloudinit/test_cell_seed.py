"""
The Cell's requests with cloud-init settings, on the fake libvirt: a
create builds the seed ISO and attaches it, a change of credentials
rebuilds it, and a delete or a rolled back create removes it.
"""

import os
import xml.etree.ElementTree as ET

from passlib.hash import sha512_crypt
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from nano.cell.storage import StorageFull
from nano.messages import (
    DeleteInstanceRequest,
    ModifyInstanceRequest,
    ModifyInstanceResponse,
)

from ..cell_helpers import GIB, CellHarness, new_id
from ..test_cell_handlers import HandlerTestCase, create_request
from .seed_helpers import DHCP, STATIC, cloud_init, parse_user_data
from .seed_helpers import read_with_pycdlib as read_seed

MAC = "52:54:00:12:34:56"
NETWORK = dict(STATIC, dns=["10.213.7.1"])


class CellSeedTests(HandlerTestCase):
    """Seed ISOs made, changed and removed by the Cell's handlers."""

    def seed(self, instance_id):
        return os.path.join(
            self.cell.settings.storage_directory, f"{instance_id}_ci.iso"
        )

    def seed_drives(self, instance_id):
        domain = self.cell.libvirt.domain("nano-" + instance_id)
        devices = ET.fromstring(domain.XMLDesc(0)).find("devices")
        return [
            disk
            for disk in devices.findall("disk")
            if disk.find("source") is not None
            and disk.find("source").get("file") == self.seed(instance_id)
        ]

    def user_data(self, instance_id):
        _, files = read_seed(self.seed(instance_id))
        return parse_user_data(files["user-data"])

    def test_create_attaches_seed(self):
        """A create with cloud_init writes the seed and attaches it."""
        instance_id, _ = self.create(
            disks=[10 * GIB, 20 * GIB],
            cloud_init=cloud_init(),
            network=NETWORK,
        )
        label, files = read_seed(self.seed(instance_id))
        self.assertEqual(label, "cidata")
        self.assertEqual(
            set(files), {"meta-data", "user-data", "network-config"}
        )
        [drive] = self.seed_drives(instance_id)
        self.assertEqual(drive.get("device"), "cdrom")
        self.assertEqual(drive.find("target").get("bus"), "ide")
        [disks] = self.user_data(instance_id)["runcmd"][1:]
        self.assertIn("pvcreate /dev/vdb", disks[2])

    def test_static_address_alone(self):
        """A static address without cloud_init gets a seed, no admin."""
        instance_id, _ = self.create(network=NETWORK)
        config = self.user_data(instance_id)
        self.assertEqual(config["hostname"], "web1")
        self.assertNotIn("users", config)
        self.assertNotIn("chpasswd", config)
        self.assertEqual(len(self.seed_drives(instance_id)), 1)

    def test_no_seed_without_settings(self):
        """A DHCP instance without cloud_init gets no seed and no drive."""
        instance_id, _ = self.create(network=DHCP)
        self.assertFalse(os.path.exists(self.seed(instance_id)))
        self.assertEqual(self.seed_drives(instance_id), [])

    def test_invalid_settings_rejected_first(self):
        """Invalid settings are rejected before anything is journalled."""
        instance_id = new_id()
        request = create_request(
            instance_id, cloud_init=cloud_init(admin_name="Bad Name")
        )
        self.fails(request, "invalid admin_name 'Bad Name'")
        self.assertEqual(self.cell.journal_types(), [])
        self.assertFalse(os.path.exists(self.seed(instance_id)))

    def test_failed_create_removes_seed(self):
        """A create rolled back after the seed was written removes it."""
        instance_id = new_id()
        self.cell.storage.failures[f"{instance_id}-1"] = StorageFull(
            "volume directory full"
        )
        request = create_request(
            instance_id, disks=[10 * GIB, 20 * GIB], cloud_init=cloud_init()
        )
        self.fails(request, "rolled back")
        self.assertFalse(os.path.exists(self.seed(instance_id)))
        self.assert_nothing_left(instance_id)

    def test_modify_rebuilds_seed(self):
        """New credentials rebuild the seed, and the instance-id stays."""
        instance_id, _ = self.create(cloud_init=cloud_init())
        _, before = read_seed(self.seed(instance_id))
        request = ModifyInstanceRequest(
            task_id="task-2",
            instance_id=instance_id,
            admin_name="ops",
            admin_secret="New-pass-9",
        )
        reply = self.successResultOf(self.cell.request(request))
        self.assertIsInstance(reply, ModifyInstanceResponse)
        _, after = read_seed(self.seed(instance_id))
        self.assertEqual(after["meta-data"], before["meta-data"])
        [user] = parse_user_data(after["user-data"])["users"]
        self.assertEqual(user["name"], "ops")
        self.assertTrue(
            sha512_crypt.verify("New-pass-9", user["hashed_passwd"])
        )

    def test_modify_without_seed(self):
        """New credentials for an instance without a seed fail clearly."""
        instance_id, _ = self.create()
        request = ModifyInstanceRequest(
            task_id="task-2", instance_id=instance_id, admin_secret="pw-1"
        )
        self.fails(request, "has no cloud-init seed ISO")

    def test_delete_removes_seed(self):
        """A delete removes the seed with the volumes."""
        instance_id, _ = self.create(cloud_init=cloud_init())
        self.assertTrue(os.path.exists(self.seed(instance_id)))
        request = DeleteInstanceRequest(
            task_id="task-3", instance_id=instance_id
        )
        self.successResultOf(self.cell.request(request))
        self.assertFalse(os.path.exists(self.seed(instance_id)))
        self.assert_nothing_left(instance_id)


class SeedRestartTests(SynchronousTestCase):
    """A Cell restarted in the middle of a create with a seed."""

    def test_create_cut_short_removes_seed(self):
        """The rollback at start-up removes the seed with the volumes."""
        directory = self.mktemp()
        first = CellHarness(directory)
        define = first.host.define

        def define_and_hang(xml):
            define(xml)
            return Deferred()

        first.host.define = define_and_hang
        instance_id = new_id()
        first.core.session.request(
            first.core.peers[0],
            create_request(instance_id, cloud_init=cloud_init()),
        ).addErrback(lambda _: None)
        first.run(1)
        seed = os.path.join(
            first.settings.storage_directory, f"{instance_id}_ci.iso"
        )
        self.assertTrue(os.path.exists(seed))

        self.successResultOf(first.stop())
        second = CellHarness(directory, libvirt=first.libvirt)
        self.addCleanup(second.stop)
        self.assertFalse(os.path.exists(seed))
        self.assertEqual(second.domain_names(), [])
        self.assertEqual(second.journal_types()[-1], "InstanceCreateFailed")
