"""
DhcpServer's supervision of dnsmasq on a fake reactor: start, reload by
SIGHUP, restart with backoff, stop, and release of stale leases.
"""

import ipaddress
import shutil
import tempfile
from pathlib import Path

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from nano.cell.network import DhcpError, DhcpServer, Lease
from nano.cell.network._server import LOG_BURST, LOG_WINDOW

SERVER = ipaddress.IPv4Address("10.213.7.1")
MAC = "52:54:00:12:34:56"
OTHER = "52:54:00:12:34:57"


class FakeProcess:
    """A spawned process: records signals and closes like Twisted's."""

    def __init__(self, protocol, executable, arguments, env, pid):
        self.protocol = protocol
        self.executable = executable
        self.arguments = arguments
        self.env = env
        self.pid = pid
        self.signals = []
        self.stdin_closed = False

    def closeStdin(self):
        self.stdin_closed = True

    def signalProcess(self, name):
        self.signals.append(name)

    def write_line(self, text):
        """Have the process write one line on stderr."""
        self.protocol.childDataReceived(2, text.encode() + b"\n")

    def end(self, value):
        """End the process with a ProcessDone or ProcessTerminated."""
        self.pid = None
        self.protocol.processEnded(Failure(value))


class ProcessClock(Clock):
    """A Clock that also records spawnProcess calls."""

    def __init__(self):
        super().__init__()
        self.processes = []

    def spawnProcess(self, protocol, executable, args, env=None, **kw):
        process = FakeProcess(
            protocol, executable, args, env, 1000 + len(self.processes)
        )
        self.processes.append(process)
        protocol.makeConnection(process)
        return process


class DhcpServerTests(SynchronousTestCase):
    """DhcpServer with a fake reactor, a fixed bridge address and no UDP."""

    def setUp(self):
        self.directory = Path(tempfile.mkdtemp(prefix="nano-dhcp-test-"))
        self.directory.chmod(0o755)
        self.addCleanup(shutil.rmtree, self.directory)
        self.reactor = ProcessClock()
        self.released = []
        self.locate_error = None
        self.server = DhcpServer(
            self.reactor,
            "br0",
            self.directory / "dhcp",
            "10.213.7.0/24",
            executable=shutil.which("true"),
            locate_server=self.locate,
            release=lambda *arguments: self.released.append(arguments),
        )

    def locate(self, bridge, network):
        if self.locate_error is not None:
            raise self.locate_error
        return SERVER

    @property
    def process(self):
        return self.reactor.processes[-1]

    def read_files(self, process=None):
        """Have dnsmasq log reading its hosts and options files."""
        process = process or self.process
        process.write_line(f"dnsmasq-dhcp[1]: read {self.server.files.hosts}")
        process.write_line(
            f"dnsmasq-dhcp[1]: read {self.server.files.options}"
        )

    def start_running(self):
        self.server.start()
        self.read_files()

    def test_start_spawns_dnsmasq(self):
        """start writes the files and spawns dnsmasq in the C locale."""
        self.server.start()
        process = self.process
        self.assertEqual(process.arguments[0], process.executable)
        self.assertIn("--interface=br0", process.arguments)
        self.assertEqual(process.env["LC_ALL"], "C")
        self.assertTrue(process.stdin_closed)
        self.assertEqual(Path(self.server.files.hosts).read_text(), "")
        self.assertEqual(self.server.pid, 1000)

    def test_start_waits_for_read(self):
        """start's Deferred fires once dnsmasq has read its files."""
        self.server.set_bindings({MAC: ("10.213.7.10", None)})
        started = self.server.start()
        self.assertNoResult(started)
        self.read_files()
        self.successResultOf(started)
        self.assertEqual(self.process.signals, [])

    def test_start_keeps_bound_leases(self):
        """Leases of bindings set before start survive the start."""
        leases = Path(self.server.files.leases)
        leases.parent.mkdir(parents=True)
        leases.write_text(f"1 {MAC} 10.213.7.10 one *\n")
        self.server.set_bindings({MAC: ("10.213.7.10", "one")})
        self.server.start()
        self.assertEqual(leases.read_text(), f"1 {MAC} 10.213.7.10 one *\n")

    def test_start_fails_without_bridge(self):
        """A bridge check failure is raised and nothing is spawned."""
        self.locate_error = DhcpError("bridge br0 not found")
        error = self.assertRaises(DhcpError, self.server.start)
        self.assertEqual(str(error), "bridge br0 not found")
        self.assertEqual(self.reactor.processes, [])

    def test_bindings_before_start(self):
        """Bindings set before start are written and confirmed at once."""
        done = self.server.set_bindings(
            {MAC: ("10.213.7.10", "one")}, "10.213.7.1", ["10.213.7.1"]
        )
        self.successResultOf(done)
        hosts = Path(self.server.files.hosts).read_text()
        self.assertEqual(hosts, f"{MAC},10.213.7.10,one\n")
        options = Path(self.server.files.options).read_text()
        self.assertIn("option:router,10.213.7.1\n", options)

    def test_bindings_while_running(self):
        """A change sends SIGHUP and is confirmed by the next read."""
        self.start_running()
        done = self.server.set_bindings({MAC: ("10.213.7.10", None)})
        self.assertEqual(self.process.signals, ["HUP"])
        self.assertNoResult(done)
        self.read_files()
        self.successResultOf(done)
        self.assertEqual(len(self.reactor.processes), 1)

    def test_one_reload_in_flight(self):
        """A change during a reload waits for it, then gets its own."""
        self.start_running()
        first = self.server.set_bindings({MAC: ("10.213.7.10", None)})
        second = self.server.set_bindings({MAC: ("10.213.7.11", None)})
        self.assertEqual(self.process.signals, ["HUP"])
        self.read_files()
        self.successResultOf(first)
        self.assertNoResult(second)
        self.assertEqual(self.process.signals, ["HUP", "HUP"])
        self.read_files()
        self.successResultOf(second)

    def test_bindings_while_spawning(self):
        """
        A change before dnsmasq's first read is sent again by SIGHUP once
        dnsmasq can take signals, because the read may have missed it.
        """
        self.server.start()
        done = self.server.set_bindings({MAC: ("10.213.7.10", None)})
        self.assertEqual(self.process.signals, [])
        self.read_files()
        self.assertEqual(self.process.signals, ["HUP"])
        self.assertNoResult(done)
        self.read_files()
        self.successResultOf(done)

    def test_invalid_bindings_keep_files(self):
        """Invalid bindings are rejected and the files stay as they were."""
        self.start_running()
        self.assertRaises(
            DhcpError, self.server.set_bindings, {MAC: ("10.213.8.1", None)}
        )
        self.assertEqual(Path(self.server.files.hosts).read_text(), "")
        self.assertEqual(self.process.signals, [])

    def test_restart_after_crash(self):
        """A killed dnsmasq is logged with its output and started again."""
        self.start_running()
        self.process.write_line("dnsmasq: something went wrong")
        with capturedLogs() as events:
            self.process.end(ProcessTerminated(signal=9))
        errors = [e for e in events if e["log_level"].name == "error"]
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0]["status"], "signal 9 (SIGKILL)")
        self.assertIn("something went wrong", errors[0]["tail"])
        self.assertIsNone(self.server.pid)

        self.reactor.advance(0.99)
        self.assertEqual(len(self.reactor.processes), 1)
        self.reactor.advance(0.01)
        self.assertEqual(len(self.reactor.processes), 2)
        self.assertEqual(self.server.pid, 1001)

    def test_backoff_doubles_and_resets(self):
        """Quick exits double the delay up to the cap; a long run resets."""
        self.server.start()
        delays = []
        for _ in range(8):
            self.process.end(ProcessDone(0))
            before = len(self.reactor.processes)
            delay = 0
            while len(self.reactor.processes) == before:
                self.reactor.advance(0.5)
                delay += 0.5
            delays.append(delay)
        self.assertEqual(delays, [1, 2, 4, 8, 16, 32, 60, 60])

        self.reactor.advance(30)
        self.process.end(ProcessDone(0))
        self.reactor.advance(1)
        self.assertEqual(len(self.reactor.processes), 10)

    def test_change_during_restart_delay(self):
        """A change made while dnsmasq is down is confirmed by the restart."""
        self.start_running()
        self.process.end(ProcessTerminated(exitCode=2))
        done = self.server.set_bindings({MAC: ("10.213.7.10", None)})
        self.reactor.advance(1)
        self.assertNoResult(done)
        self.read_files()
        self.successResultOf(done)
        self.assertEqual(self.process.signals, [])

    def test_restart_waits_for_bridge(self):
        """A bridge that is gone at restart time is retried later."""
        self.start_running()
        self.locate_error = DhcpError("bridge br0 not found")
        self.process.end(ProcessTerminated(exitCode=2))
        with capturedLogs() as events:
            self.reactor.advance(1)
        self.assertEqual(len(self.reactor.processes), 1)
        messages = [e.get("error") for e in events]
        self.assertIn(self.locate_error, messages)
        self.locate_error = None
        self.reactor.advance(2)
        self.assertEqual(len(self.reactor.processes), 2)

    def test_stop_terminates(self):
        """stop sends SIGTERM, and fires when dnsmasq has exited."""
        self.start_running()
        stopped = self.server.stop()
        self.assertEqual(self.process.signals, ["TERM"])
        self.assertNoResult(stopped)
        self.process.end(ProcessTerminated(signal=15))
        self.successResultOf(stopped)
        self.reactor.advance(120)
        self.assertEqual(len(self.reactor.processes), 1)

    def test_stop_kills_after_timeout(self):
        """A dnsmasq that ignores SIGTERM gets SIGKILL."""
        self.start_running()
        stopped = self.server.stop()
        self.reactor.advance(5)
        self.assertEqual(self.process.signals, ["TERM", "KILL"])
        self.process.end(ProcessTerminated(signal=9))
        self.successResultOf(stopped)

    def test_stop_during_restart_delay(self):
        """Stopping while a restart is due cancels it."""
        self.start_running()
        self.process.end(ProcessTerminated(exitCode=2))
        self.successResultOf(self.server.stop())
        self.reactor.advance(120)
        self.assertEqual(len(self.reactor.processes), 1)

    def test_stop_when_idle(self):
        """Stopping a server that never started fires at once."""
        self.successResultOf(self.server.stop())

    def test_stale_leases_released(self):
        """After a reload, leases no binding matches are released."""
        Path(self.server.files.leases).parent.mkdir(parents=True)
        Path(self.server.files.leases).write_text(
            f"1 {MAC} 10.213.7.10 one *\n1 {OTHER} 10.213.7.11 two *\n"
        )
        self.server.set_bindings({OTHER: ("10.213.7.11", None)})
        self.start_running()
        self.assertEqual(self.released, [])

        self.server.set_bindings({MAC: ("10.213.7.11", None)})
        Path(self.server.files.leases).write_text(
            f"1 {OTHER} 10.213.7.11 two *\n"
        )
        self.read_files()
        self.assertEqual(
            self.released, [("br0", SERVER, Lease(OTHER, "10.213.7.11", None))]
        )

    def test_start_prunes_leases(self):
        """Leases of removed bindings are dropped before dnsmasq starts."""
        leases = Path(self.server.files.leases)
        leases.parent.mkdir(parents=True)
        leases.write_text(f"1 {MAC} 10.213.7.10 one *\n")
        self.server.start()
        self.assertEqual(leases.read_text(), "")

    def test_output_logging_is_limited(self):
        """Beyond LOG_BURST lines a window's output is counted instead."""
        self.start_running()
        self.reactor.advance(LOG_WINDOW)
        with capturedLogs() as events:
            for number in range(LOG_BURST + 5):
                self.process.write_line(f"dnsmasq-dhcp[1]: line {number}")
            self.reactor.advance(LOG_WINDOW)
            self.process.write_line("dnsmasq-dhcp[1]: next window")
        lines = [e["line"] for e in events if "line" in e]
        self.assertEqual(len(lines), LOG_BURST + 1)
        self.assertEqual(lines[-1], "dnsmasq-dhcp[1]: next window")
        counts = [e["count"] for e in events if "count" in e]
        self.assertEqual(counts, [5])
