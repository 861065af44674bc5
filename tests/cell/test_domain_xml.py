"""
Tests for domain XML built from a :class:`DomainSpec` and the default
system templates.
"""

import xml.etree.ElementTree as ET

import pytest

from nano.cell.libvirt import (
    DEFAULT_TEMPLATES,
    DeviceSet,
    DomainSpec,
    InvalidDomainSpec,
    Qos,
    domain_xml,
    generate_password,
)

UUID = "3e1c5a54-8a0e-4c4c-9d3b-5f2b8f7d2a10"
MIB = 1024 * 1024


def spec(**changes):
    """Return a valid spec with ``changes`` applied."""
    fields = {
        "name": "vm1",
        "uuid": UUID,
        "cores": 2,
        "memory": 256 * MIB,
        "system_disk": "/var/lib/nano/volumes/vm1.qcow2",
        "bridge": "br0",
        "mac": "52:54:00:12:34:56",
        "console_log": "/var/log/nano/vm1.console.log",
    }
    fields.update(changes)
    return DomainSpec(**fields)


def parse(domain_spec):
    """Build the XML of a spec and parse it back."""
    return ET.fromstring(domain_xml(domain_spec))


class TestDefaults:
    """The XML for a spec with default options."""

    def test_identity_and_size(self):
        """Name, UUID, type, memory in KiB and vCPUs are set."""
        root = parse(spec(domain_type="qemu"))
        assert root.get("type") == "qemu"
        assert root.findtext("name") == "vm1"
        assert root.findtext("uuid") == UUID
        assert root.findtext("memory") == str(256 * 1024)
        assert root.find("memory").get("unit") == "KiB"
        assert root.findtext("currentMemory") == str(256 * 1024)
        assert root.findtext("vcpu") == "2"

    def test_uuid_lower_case(self):
        """An upper-case UUID is stored in lower case."""
        assert spec(uuid=UUID.upper()).uuid == UUID

    def test_system_disk(self):
        """The system disk is a qcow2 file on virtio by default."""
        disk = parse(spec()).find("devices/disk")
        assert disk.find("driver").get("type") == "qcow2"
        assert disk.find("source").get("file") == spec().system_disk
        assert disk.find("target").attrib == {"dev": "vda", "bus": "virtio"}
        assert disk.find("iotune") is None

    def test_bridge_nic(self):
        """The NIC is on the bridge with the given MAC."""
        interface = parse(spec()).find("devices/interface")
        assert interface.get("type") == "bridge"
        assert interface.find("source").get("bridge") == "br0"
        assert interface.find("mac").get("address") == "52:54:00:12:34:56"
        assert interface.find("model").get("type") == "virtio"
        assert interface.find("bandwidth") is None

    def test_no_bridge_no_nic(self):
        """Without a bridge there is no network interface."""
        root = parse(spec(bridge=None, mac=None))
        assert root.find("devices/interface") is None

    def test_console_pty_logged(self):
        """The serial console is a pty logged to the file."""
        devices = parse(spec()).find("devices")
        assert devices.find("serial").get("type") == "pty"
        log = devices.find("serial/log")
        assert log.get("file") == "/var/log/nano/vm1.console.log"
        assert devices.find("console/target").get("type") == "serial"

    def test_console_file(self):
        """A file console writes to the log path directly."""
        devices = parse(spec(console="file")).find("devices")
        assert devices.find("serial").get("type") == "file"
        path = "/var/log/nano/vm1.console.log"
        assert devices.find("serial/source").get("path") == path
        assert devices.find("console/source").get("path") == path

    def test_vnc(self):
        """VNC listens on the address with the password."""
        root = parse(spec(graphics_password="abc12345"))
        graphics = root.find("devices/graphics")
        assert graphics.get("type") == "vnc"
        assert graphics.get("autoport") == "yes"
        assert graphics.get("passwd") == "abc12345"
        assert graphics.find("listen").get("address") == "127.0.0.1"

    def test_cpu_shares(self):
        """CPU priority sets cputune shares."""
        for priority, shares in [("high", 2000), ("medium", 1000)]:
            root = parse(spec(qos=Qos(cpu_priority=priority)))
            assert root.findtext("cputune/shares") == str(shares)
        root = parse(spec(qos=Qos(cpu_priority="low")))
        assert root.findtext("cputune/shares") == "500"

    def test_relabel_off(self):
        """relabel=False adds a DAC seclabel of type none."""
        assert parse(spec()).find("seclabel") is None
        seclabel = parse(spec(relabel=False)).find("seclabel")
        assert seclabel.attrib == {"type": "none", "model": "dac"}


class TestPassword:
    """Random VNC passwords."""

    def test_generated_password(self):
        """Passwords are 8 letters or digits, different each time."""
        passwords = {generate_password() for _ in range(20)}
        assert len(passwords) == 20
        for password in passwords:
            assert len(password) == 8
            assert password.isalnum()

    def test_spec_gets_random_password(self):
        """Each spec gets its own password, hidden from repr."""
        first, second = spec(), spec()
        assert first.graphics_password != second.graphics_password
        assert first.graphics_password not in repr(first)


class TestEscaping:
    """User text cannot change the XML structure."""

    def test_name_and_title_escaped(self):
        """Markup in the name and title comes back as plain text."""
        name = "vm<b>&'\""
        title = "x</title><devices/>"
        root = parse(spec(name=name, title=title))
        assert root.findtext("name") == name
        assert root.findtext("title") == title
        assert len(root.findall("devices")) == 1

    def test_path_escaped(self):
        """Quotes in a path stay inside the attribute."""
        path = "/var/tmp/a'b\"c.qcow2"
        root = parse(spec(system_disk=path))
        assert root.find("devices/disk/source").get("file") == path


class TestTemplates:
    """The five default templates' device sets."""

    def test_five_defaults(self):
        """The defaults are the five Nano templates, in order."""
        names = [template.name for template in DEFAULT_TEMPLATES]
        assert names == [
            "CentOS 7",
            "CentOS 6",
            "Windows Server 2012",
            "General",
            "Legacy",
        ]

    @pytest.mark.parametrize(
        ("name", "target", "nic", "video", "usb", "tablet"),
        [
            ("CentOS 7", ("sda", "scsi"), "virtio", "vga", "nec-xhci", "usb"),
            ("CentOS 6", ("sda", "sata"), "virtio", "vga", "nec-xhci", "usb"),
            (
                "Windows Server 2012",
                ("sda", "sata"),
                "e1000",
                "vga",
                "nec-xhci",
                "usb",
            ),
            ("General", ("sda", "sata"), "rtl8139", "vga", None, "usb"),
            ("Legacy", ("hda", "ide"), "rtl8139", "cirrus", None, None),
        ],
    )
    def test_template_devices(self, name, target, nic, video, usb, tablet):
        """Each template gives its disk bus, NIC, video, USB and tablet."""
        (template,) = [t for t in DEFAULT_TEMPLATES if t.name == name]
        devices = parse(spec(devices=template.devices)).find("devices")
        disk_target = devices.find("disk/target")
        assert (disk_target.get("dev"), disk_target.get("bus")) == target
        assert devices.find("interface/model").get("type") == nic
        assert devices.find("video/model").get("type") == video
        usb_controller = devices.find("controller[@type='usb']")
        if usb is None:
            assert usb_controller is None
        else:
            assert usb_controller.get("model") == usb
        tablet_input = devices.find("input[@type='tablet']")
        if tablet is None:
            assert tablet_input is None
        else:
            assert tablet_input.get("bus") == tablet

    def test_scsi_controller(self):
        """The scsi bus adds a virtio-scsi controller."""
        devices = parse(spec(devices=DeviceSet(disk_bus="scsi")))
        controller = devices.find("devices/controller[@type='scsi']")
        assert controller.get("model") == "virtio-scsi"
        sata = parse(spec(devices=DeviceSet(disk_bus="sata")))
        assert sata.find("devices/controller[@type='scsi']") is None

    def test_spice_qxl(self):
        """SPICE with a QXL card."""
        devices = DeviceSet(display="qxl", control="spice")
        root = parse(spec(devices=devices))
        assert root.find("devices/graphics").get("type") == "spice"
        assert root.find("devices/video/model").get("type") == "qxl"

    def test_display_none(self):
        """No display means no video card and no remote display."""
        root = parse(spec(devices=DeviceSet(display="none")))
        assert root.find("devices/graphics") is None
        assert root.find("devices/video") is None

    def test_virtio_tablet(self):
        """A virtio tablet is an input on the virtio bus."""
        root = parse(spec(devices=DeviceSet(tablet="virtio")))
        assert root.find("devices/input").get("bus") == "virtio"


class TestQos:
    """Disk and network limits."""

    def test_disk_limits(self):
        """Non-zero disk limits become iotune elements."""
        qos = Qos(read_bytes=10 * MIB, write_iops=200)
        iotune = parse(spec(qos=qos)).find("devices/disk/iotune")
        assert iotune.findtext("read_bytes_sec") == str(10 * MIB)
        assert iotune.findtext("write_iops_sec") == "200"
        assert iotune.find("write_bytes_sec") is None
        assert iotune.find("read_iops_sec") is None

    def test_network_limits(self):
        """Network limits are KiB/s, peak twice, burst equal."""
        qos = Qos(receive_bytes=1024 * 1000, send_bytes=1500)
        bandwidth = parse(spec(qos=qos)).find("devices/interface/bandwidth")
        inbound = bandwidth.find("inbound").attrib
        assert inbound == {"average": "1000", "peak": "2000", "burst": "1000"}
        assert bandwidth.find("outbound").get("average") == "2"

    def test_one_direction(self):
        """A limit on sending only has no inbound element."""
        bandwidth = parse(spec(qos=Qos(send_bytes=4096))).find(
            "devices/interface/bandwidth"
        )
        assert bandwidth.find("inbound") is None
        assert bandwidth.find("outbound").get("average") == "4"


class TestValidation:
    """Invalid specs fail with the field, the value and the rule."""

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            (
                {"memory": 0},
                "invalid memory 0: must be at least 64 MiB (67108864 bytes)",
            ),
            ({"memory": 64 * MIB + 1}, "whole number of KiB"),
            ({"cores": 0}, "invalid cores 0: must be a whole number from 1"),
            ({"cores": 256}, "from 1 to 255"),
            ({"uuid": "nope"}, "invalid uuid 'nope': must be a UUID"),
            ({"name": ""}, "invalid name '': must be 1 to 200"),
            ({"name": "a/b"}, "must not contain '/'"),
            ({"name": "a\nb"}, "control characters"),
            ({"domain_type": "xen"}, "must be one of kvm, qemu"),
            ({"system_disk": "vm1.qcow2"}, "must be an absolute path"),
            ({"console_log": "log"}, "invalid console log 'log'"),
            ({"mac": None}, "invalid mac None: is required with a bridge"),
            ({"mac": "52:54:00:12:34"}, "unicast MAC address"),
            ({"mac": "53:54:00:12:34:56"}, "unicast MAC address"),
            ({"mac": "52:54:00:12:34:5G"}, "unicast MAC address"),
            ({"bridge": "a-very-long-bridge-name"}, "1 to 15 characters"),
            ({"graphics_password": "123456789"}, "1 to 8 characters"),
            ({"graphics_password": ""}, "1 to 8 characters"),
            ({"graphics_password": "pässwort"}, "printable ASCII"),
            ({"graphics_listen": "localhost"}, "must be an IP address"),
            ({"console": "tty"}, "must be one of pty, file"),
            (
                {"console": "file", "console_log": None},
                "it needs a console log path",
            ),
        ],
    )
    def test_invalid_spec(self, changes, message):
        """Each invalid field is named with the rule it breaks."""
        with pytest.raises(InvalidDomainSpec) as caught:
            spec(**changes)
        assert message in str(caught.value)

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"disk_bus": "nvme"}, "invalid disk bus 'nvme': must be one of"),
            ({"nic_model": "ne2k"}, "invalid nic model 'ne2k'"),
            ({"display": "std"}, "invalid display 'std'"),
            ({"control": "rdp"}, "must be one of vnc, spice"),
            ({"usb": "qemu-xhci"}, "invalid usb 'qemu-xhci'"),
            ({"tablet": "ps2"}, "must be one of usb, virtio, none"),
        ],
    )
    def test_invalid_device_set(self, changes, message):
        """Each invalid device choice lists the accepted values."""
        with pytest.raises(ValueError, match=message):
            DeviceSet(**changes)

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"cpu_priority": "urgent"}, "must be one of high, medium, low"),
            ({"read_bytes": -1}, "invalid read bytes -1"),
            ({"send_bytes": 1.5}, "0 for no limit"),
        ],
    )
    def test_invalid_qos(self, changes, message):
        """Invalid QoS values are named."""
        with pytest.raises(InvalidDomainSpec, match=message):
            Qos(**changes)
