"""``twistd nano-core`` options and start-up errors."""

import json
from pathlib import Path

from api_helpers import NOW, SynchronousThread
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from nano.core import tap
from nano.core._logging import LEVELS
from nano.events import Event, EventRegistry
from nano.events._journal import open_journal
from nano.twisted_plugins.nano_core import nano_core


class _UdpPort:
    def __init__(self, port):
        self.port = port

    def getHost(self):
        return IPv4Address("UDP", "127.0.0.1", self.port or 40000)

    def stopListening(self):
        return None


class MemoryReactor(MemoryReactorClock):
    """A memory reactor that records UDP and multicast ports too."""

    def __init__(self):
        super().__init__()
        self.udp = []

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        self.udp.append((port, interface))
        return _UdpPort(port)

    def listenMulticast(self, port, protocol, interface="", **options):
        self.udp.append((port, "multicast"))
        return _UdpPort(port)


class OptionsTests(SynchronousTestCase):
    """The plugin's options and their defaults."""

    def parse(self, *arguments):
        options = tap.Options()
        options.parseOptions(list(arguments))
        return options

    def test_plugin_points_at_tap(self):
        """The plugin's tap name and options are nano-core's."""
        self.assertEqual(nano_core.tapname, "nano-core")
        self.assertIs(nano_core.options, tap.Options)

    def test_defaults(self):
        """With no arguments, Core uses /opt/nano/core and api.cfg's port."""
        options = self.parse()
        self.assertEqual(options["config"], "/opt/nano/core/config")
        self.assertEqual(options["data"], "/opt/nano/core/data")
        self.assertIsNone(options["api-port"])
        self.assertEqual(options["api-interface"], "127.0.0.1")
        self.assertEqual(options["log-level"], "info")

    def test_max_cpu_load_reaches_the_scheduler(self):
        """--max-cpu-load is a percent; Core's guests get the share."""
        self.assertEqual(self.parse()["max-cpu-load"], 80)
        options = self.parse("--max-cpu-load", "95")
        self.assertEqual(tap.core_options(options).max_cpu_load, 0.95)

    def test_help_lists_defaults(self):
        """The help text shows every option's default."""
        help_text = str(tap.Options())
        for text in [
            "/opt/nano/core/config",
            "/opt/nano/core/data",
            "5870",
            "127.0.0.1",
            "[default: info]",
        ]:
            self.assertIn(text, help_text)

    def test_invalid_values(self):
        """Invalid option values are rejected with the accepted ones."""
        cases = [
            (["--api-port", "70000"], "0 to 65535"),
            (["--api-port", "http"], "invalid --api-port 'http'"),
            (["--api-interface", "localhost"], "must be an IP address"),
            (["--log-level", "loud"], "debug, info, warn, error, critical"),
            (["--max-cpu-load", "0"], "invalid --max-cpu-load '0'"),
            (["--max-cpu-load", "101"], "from 1 to 100"),
        ]
        for arguments, fragment in cases:
            with self.subTest(arguments=arguments):
                with self.assertRaises(UsageError) as raised:
                    self.parse(*arguments)
                self.assertIn(fragment, str(raised.exception))


class MakeServiceTests(SynchronousTestCase):
    """makeService turns start-up problems into one-line exits."""

    def setUp(self):
        self.root = Path(self.mktemp())
        self.addCleanup(
            setattr, LEVELS, "defaultLogLevel", LEVELS.defaultLogLevel
        )

    def options(self, *extra):
        options = tap.Options()
        options.parseOptions(
            [
                "--config",
                str(self.root / "config"),
                "--data",
                str(self.root / "data"),
                "--api-port",
                "0",
                "--interface",
                "127.0.0.1",
                *extra,
            ]
        )
        return options

    def close_journal(self, journal):
        # The journal closes in its writer thread, whose result a memory
        # reactor never delivers, so stop the thread once it is done.
        journal.close()
        journal._thread.stop()

    def test_malformed_config_exits(self):
        """A malformed api.cfg stops start-up naming the file and fix."""
        (self.root / "config").mkdir(parents=True)
        path = self.root / "config" / "api.cfg"
        path.write_text('{"port": 5870, "credentials": "none"}')
        with self.assertRaises(SystemExit) as raised:
            tap.makeService(self.options(), MemoryReactor())
        message = str(raised.exception.code)
        self.assertIn("nano-core: cannot start", message)
        self.assertIn(str(path), message)
        self.assertIn("invalid credentials", message)
        self.assertIn("edit", message)

    def test_unusable_data_directory_exits(self):
        """A data directory that cannot be created stops start-up."""
        self.root.mkdir()
        (self.root / "data").write_text("a file, not a directory")
        with self.assertRaises(SystemExit) as raised:
            tap.makeService(self.options(), MemoryReactor())
        self.assertIn("journal", str(raised.exception.code))

    def test_locked_journal_exits(self):
        """A data directory in use by another Core stops start-up."""
        first = tap.makeService(self.options(), MemoryReactor())
        self.addCleanup(self.close_journal, first.journal)
        with self.assertRaises(SystemExit) as raised:
            tap.makeService(self.options(), MemoryReactor())
        message = str(raised.exception.code)
        self.assertIn("nano-core: cannot start", message)
        self.assertIn(str(self.root / "data" / "journal"), message)

    def test_listens_on_interface(self):
        """Core binds its API to the chosen interface and port."""
        reactor = MemoryReactor()
        core = tap.makeService(
            self.options(
                "--api-interface", "127.0.0.2", "--log-level", "warn"
            ),
            reactor,
        )
        self.addCleanup(self.close_journal, core.journal)
        [(port, _, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (0, "127.0.0.2"))
        self.assertEqual(LEVELS.defaultLogLevel.name, "warn")

    def test_unreadable_journal_exits(self):
        """An event type Core does not know stops start-up with the fix."""
        directory = self.root / "data" / "journal"
        other_events = EventRegistry()

        @other_events.event("SomethingElseHappened")
        class SomethingElseHappened(Event):
            pass

        clock = Clock()
        journal = open_journal(
            directory, other_events, clock, SynchronousThread(), 2**26
        )
        journal.append(SomethingElseHappened(aggregate_id="x", time=NOW))
        journal.close()
        clock.advance(0)

        with self.assertRaises(SystemExit) as raised:
            tap.makeService(self.options(), MemoryReactor())
        message = str(raised.exception.code)
        self.assertIn("nano-core: cannot start", message)
        self.assertIn("SomethingElseHappened", message)
        self.assertIn(f"nano-journal verify {directory}", message)


class FabricStartTests(SynchronousTestCase):
    """makeService creates the cluster secret and binds the fabric."""

    setUp = MakeServiceTests.setUp
    options = MakeServiceTests.options
    close_journal = MakeServiceTests.close_journal

    def test_interface_default(self):
        """Without --interface, domain.cfg's setting is used."""
        self.assertIsNone(tap.Options()["interface"])

    def test_binds_fabric_on_interface(self):
        """The transport binds the chosen interface, on a free port, and
        discovery listens on the group port."""
        reactor = MemoryReactor()
        core = tap.makeService(self.options(), reactor)
        self.addCleanup(self.close_journal, core.journal)
        self.assertEqual(reactor.udp, [(0, "127.0.0.1"), (5599, "multicast")])
        self.assertTrue(core.fabric.running)
        self.assertEqual(core.fabric.address, ("127.0.0.1", 40000))

    def test_creates_secret(self):
        """A first start writes domain.cfg with a secret, owner only."""
        reactor = MemoryReactor()
        core = tap.makeService(self.options(), reactor)
        self.addCleanup(self.close_journal, core.journal)
        path = self.root / "config" / "domain.cfg"
        values = json.loads(path.read_text())
        self.assertGreaterEqual(len(bytes.fromhex(values["secret"])), 16)
        self.assertEqual(path.stat().st_mode & 0o777, 0o600)

    def test_keeps_secret(self):
        """A later start keeps the secret and the file's other keys."""
        (self.root / "config").mkdir(parents=True)
        path = self.root / "config" / "domain.cfg"
        path.write_text(json.dumps({"secret": "ab" * 16, "domain": "lab"}))
        core = tap.makeService(self.options(), MemoryReactor())
        self.addCleanup(self.close_journal, core.journal)
        values = json.loads(path.read_text())
        self.assertEqual(values, {"secret": "ab" * 16, "domain": "lab"})

    def test_invalid_domain_config_exits(self):
        """An invalid domain.cfg stops start-up naming the key."""
        (self.root / "config").mkdir(parents=True)
        path = self.root / "config" / "domain.cfg"
        path.write_text(json.dumps({"secret": "ab" * 16, "group_port": 0}))
        with self.assertRaises(SystemExit) as raised:
            tap.makeService(self.options(), MemoryReactor())
        message = str(raised.exception.code)
        self.assertIn("nano-core: cannot start", message)
        self.assertIn("invalid group_port 0", message)

    def test_unknown_interface_exits(self):
        """An interface that does not exist stops start-up, and the
        journal is closed so that a corrected start can open it."""
        options = self.options()
        options["interface"] = "nano-missing0"
        with self.assertRaises(SystemExit) as raised:
            tap.makeService(options, MemoryReactor())
        message = str(raised.exception.code)
        self.assertIn("'nano-missing0'", message)
        self.assertIn("--interface", message)
        self.assertNotIn("--core", message)
        core = tap.makeService(self.options(), MemoryReactor())
        self.addCleanup(self.close_journal, core.journal)
