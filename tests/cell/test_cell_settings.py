"""cell.cfg, the ``twistd nano-cell`` options, and start-up errors."""

import os
from pathlib import Path

import orjson
from twisted.internet.testing import MemoryReactorClock
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from nano.cell import tap
from nano.cell._reporter import CpuLoad, read_cpu_times
from nano.cell._settings import CellSettings, load_cell_settings
from nano.config import ConfigError
from nano.twisted_plugins.nano_cell import nano_cell


class SettingsTests(SynchronousTestCase):
    """Reading and creating cell.cfg."""

    def setUp(self):
        self.config = Path(self.mktemp())
        self.data = Path(self.mktemp())
        self.path = self.config / "cell.cfg"

    def write(self, **values):
        self.config.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(orjson.dumps(values))

    def test_created_with_defaults(self):
        """A first start writes the defaults, volumes under data/."""
        settings = load_cell_settings(self.config, self.data)
        stored = orjson.loads(self.path.read_bytes())
        volumes = os.path.join(os.path.abspath(self.data), "volumes")
        self.assertEqual(stored["storage_directory"], volumes)
        self.assertEqual(stored["libvirt_uri"], "qemu:///system")
        self.assertEqual(stored["domain_type"], "kvm")
        self.assertIsNone(stored["bridge"])
        self.assertEqual(settings.instance_limit, 100)
        self.assertEqual(settings.vnc_listen, "127.0.0.1")

    def test_file_values_and_overrides(self):
        """File values are read; command-line overrides win."""
        self.write(domain_type="qemu", bridge="br0", instance_limit=5)
        settings = load_cell_settings(
            self.config, self.data, libvirt_uri="test:///default"
        )
        self.assertEqual(settings.domain_type, "qemu")
        self.assertEqual(settings.bridge, "br0")
        self.assertEqual(settings.instance_limit, 5)
        self.assertEqual(settings.libvirt_uri, "test:///default")
        stored = orjson.loads(self.path.read_bytes())
        self.assertNotIn("libvirt_uri", stored)

    def test_invalid_values_name_key_and_fix(self):
        """Each invalid value is named with what is accepted."""
        cases = [
            ({"domain_type": "xen"}, "invalid domain_type 'xen'", "kvm or"),
            ({"libvirt_uri": 5}, "invalid libvirt_uri 5", "libvirt URI"),
            ({"storage_directory": "vols"}, "storage_directory", "absolute"),
            ({"bridge": "a/b"}, "invalid bridge 'a/b'", "interface name"),
            ({"vnc_listen": "any"}, "invalid vnc_listen 'any'", "IP address"),
            ({"instance_limit": 0}, "invalid instance_limit 0", "1 or more"),
        ]
        for values, *expected in cases:
            self.write(**values)
            with self.assertRaises(ConfigError) as caught:
                load_cell_settings(self.config, self.data)
            for text in [*expected, str(self.path), "move it away"]:
                self.assertIn(text, str(caught.exception))

    def test_not_json(self):
        """A file that is not JSON is named."""
        self.config.mkdir()
        self.path.write_text("{")
        with self.assertRaises(ConfigError) as caught:
            load_cell_settings(self.config, self.data)
        self.assertIn("invalid JSON", str(caught.exception))


class OptionsTests(SynchronousTestCase):
    """The plugin's options."""

    def parse(self, *arguments):
        options = tap.Options()
        options.parseOptions(list(arguments))
        return options

    def test_plugin_points_at_tap(self):
        """The plugin's tap name and options are nano-cell's."""
        self.assertEqual(nano_cell.tapname, "nano-cell")
        self.assertIs(nano_cell.options, tap.Options)

    def test_help_lists_defaults(self):
        """The help text shows every option and the directory defaults."""
        text = str(tap.Options())
        for part in [
            "--config",
            "/opt/nano/cell/config",
            "--data",
            "/opt/nano/cell/data",
            "--libvirt-uri",
            "--domain-type",
            "--interface",
            "--core",
            "--name",
        ]:
            self.assertIn(part, text)

    def test_core_address(self):
        """--core takes HOST:PORT and rejects anything else."""
        self.assertEqual(
            self.parse("--core", "10.213.0.1:5600")["core"],
            ("10.213.0.1", 5600),
        )
        with self.assertRaises(UsageError) as caught:
            self.parse("--core", "core.example:x")
        self.assertIn("IPV4-ADDRESS:PORT", str(caught.exception))

    def test_domain_type(self):
        """--domain-type accepts kvm or qemu only."""
        self.assertEqual(
            self.parse("--domain-type", "qemu")["domain-type"], "qemu"
        )
        with self.assertRaises(UsageError) as caught:
            self.parse("--domain-type", "xen")
        self.assertIn("invalid --domain-type 'xen'", str(caught.exception))

    def test_missing_secret_stops_start(self):
        """Without Core's domain.cfg, the error explains how to get it."""
        config, data = self.mktemp(), self.mktemp()
        options = self.parse("--config", config, "--data", data)
        with self.assertRaises(SystemExit) as caught:
            tap.makeService(options, MemoryReactorClock())
        message = str(caught.exception)
        self.assertIn("nano-cell: cannot start", message)
        self.assertIn("domain.cfg", message)

    def write_domain_config(self, config):
        config.mkdir(parents=True, exist_ok=True)
        (config / "domain.cfg").write_bytes(
            orjson.dumps({"secret": bytes(range(32)).hex()})
        )

    def test_locked_journal_stops_start(self):
        """A second Cell on the same data directory cannot start."""
        config, data = Path(self.mktemp()), self.mktemp()
        self.write_domain_config(config)
        options = self.parse("--config", str(config), "--data", data)
        first = tap.makeService(options, MemoryReactorClock())
        self.addCleanup(first.parts.service.journal.close)
        with self.assertRaises(SystemExit) as caught:
            tap.makeService(options, MemoryReactorClock())
        message = str(caught.exception)
        self.assertIn("nano-cell: cannot start", message)
        self.assertIn("journal", message)

    def test_invalid_cell_config_stops_start(self):
        """An invalid cell.cfg stops start-up with the key and the fix."""
        config, data = Path(self.mktemp()), self.mktemp()
        self.write_domain_config(config)
        (config / "cell.cfg").write_bytes(orjson.dumps({"bridge": 7}))
        options = self.parse("--config", str(config), "--data", data)
        with self.assertRaises(SystemExit) as caught:
            tap.makeService(options, MemoryReactorClock())
        self.assertIn("invalid bridge 7", str(caught.exception))

    def test_builds_services_in_order(self):
        """With its config, the Cell builds host, cell, reporter, fabric."""
        config, data = Path(self.mktemp()), self.mktemp()
        self.write_domain_config(config)
        options = self.parse(
            "--config", str(config), "--data", data, "--domain-type", "qemu"
        )
        service = tap.makeService(options, MemoryReactorClock())
        self.addCleanup(service.parts.service.journal.close)
        names = [type(child).__name__ for child in service]
        self.assertEqual(
            names, ["Host", "CellService", "StatusReporter", "CellFabric"]
        )
        self.assertTrue(os.path.isdir(os.path.join(data, "volumes")))
        self.assertTrue(os.path.isdir(os.path.join(data, "journal")))


class CpuLoadTests(SynchronousTestCase):
    """The CPU load in status reports."""

    def test_busy_share_between_samples(self):
        """The load is the busy share of the ticks between two samples."""
        readings = iter([(1000, 800), (2000, 1550)])
        load = CpuLoad(lambda: next(readings))
        self.assertEqual(load.sample(), 0.0)
        self.assertAlmostEqual(load.sample(), 0.25)

    def test_reads_proc_stat(self):
        """The host's /proc/stat gives idle time within the total."""
        total, idle = read_cpu_times()
        self.assertGreater(total, 0)
        self.assertLessEqual(idle, total)


class DefaultsTests(SynchronousTestCase):
    """CellSettings' own defaults."""

    def test_defaults(self):
        """Settings built in code have Nano's defaults."""
        settings = CellSettings()
        self.assertEqual(settings.libvirt_uri, "qemu:///system")
        self.assertEqual(settings.instance_limit, 100)
