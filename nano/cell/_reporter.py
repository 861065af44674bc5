"""The Cell's status report to Core, every 2 seconds."""

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from nano.messages import CellStatusReport

#: Seconds between two reports, as in Nano 1.x.
REPORT_INTERVAL = 2.0
_PROC_STAT = "/proc/stat"


def read_cpu_times(path=_PROC_STAT):
    """
    Read the host's total and idle CPU time, in clock ticks, from the
    ``cpu`` line of ``/proc/stat``; idle includes I/O wait.
    """
    with open(path, "rb") as stat:
        fields = stat.readline().split()[1:]
    ticks = [int(field) for field in fields[:8]]
    return sum(ticks), ticks[3] + ticks[4]


class CpuLoad:
    """
    The share of CPU time that was busy between two readings.

    :param read: returns ``(total, idle)`` CPU times, such as
        :func:`read_cpu_times`.
    """

    def __init__(self, read=read_cpu_times):
        self._read = read
        self._last = None

    def sample(self):
        """Return the busy share since the previous sample, 0 to 1."""
        total, idle = self._read()
        last, self._last = self._last, (total, idle)
        if last is None or total <= last[0]:
            return 0.0
        busy = (total - last[0]) - (idle - last[1])
        return min(1.0, max(0.0, busy / (total - last[0])))


class StatusReporter(Service):
    """
    Sends a :class:`CellStatusReport` to Core every ``interval`` seconds
    while Core is connected. Reports are soft state: one that cannot be
    made or sent is skipped, and the next replaces it.

    :param clock: runs the loop.
    :param host: reads memory and cores.
    :param storage: reads the volume file system's size.
    :param book: counts instances.
    :param send: ``send(message)`` sends to Core.
    :param connected: returns whether Core is connected; no report is
        made while it is not.
    :param cpu_load: a :class:`CpuLoad`.
    """

    log = Logger()

    def __init__(
        self,
        clock,
        host,
        storage,
        book,
        send,
        connected,
        instance_limit,
        cpu_load=None,
        interval=REPORT_INTERVAL,
    ):
        self._host = host
        self._storage = storage
        self._book = book
        self._send = send
        self._connected = connected
        self._instance_limit = instance_limit
        self._cpu_load = cpu_load or CpuLoad()
        self._interval = interval
        self._loop = LoopingCall(self._report)
        self._loop.clock = clock
        self._failures = 0

    def startService(self):
        """Send the first report now, then one every interval."""
        super().startService()
        self._loop.start(self._interval, now=True)

    def stopService(self):
        """Stop sending reports."""
        super().stopService()
        if self._loop.running:
            self._loop.stop()

    def _report(self):
        if not self._connected():
            return
        reading = self._host.node_info()
        reading.addCallback(self._send_report)
        reading.addErrback(self._failed)
        # Returning nothing keeps the loop's timing independent of
        # libvirt: a slow reading does not delay the next report.

    def _send_report(self, node):
        disk, disk_available = self._storage.capacity()
        states = [instance.state for instance in self._book.instances()]
        running = states.count("running")
        stopped = states.count("stopped")
        self._send(
            CellStatusReport(
                cell=self._book.cell,
                cores=node.cores,
                cpu_load=self._cpu_load.sample(),
                memory=node.memory,
                memory_available=node.free_memory,
                disk=disk,
                disk_available=disk_available,
                instances=len(states),
                running=running,
                stopped=stopped,
                other=len(states) - running - stopped,
                instance_limit=self._instance_limit,
            )
        )
        self._failures = 0

    def _failed(self, failure):
        self._failures += 1
        # The first failure of a run, then one in 30 (about a minute).
        if self._failures % 30 == 1:
            self.log.warn(
                "Skipped a status report: {error} ({count} in a row)",
                error=failure.getErrorMessage(),
                count=self._failures,
            )
