"""
The Cell's DHCP server: one dnsmasq child process on the Cell's bridge,
reconfigured by SIGHUP and restarted with backoff when it dies.

States: ``idle`` (no process), ``spawning`` until dnsmasq logs that it has
read its files, ``running``, ``waiting`` for a restart after it exited, and
``stopping`` after SIGTERM. Each :meth:`DhcpServer.set_bindings` returns a
Deferred that fires once dnsmasq has read files at least as new as the
ones that call wrote. One SIGHUP is in flight at a time, so each read
dnsmasq logs can be matched to the requests it covers.
"""

import collections
import contextlib
import ipaddress
import os
import signal
from pathlib import Path

from automat import MethodicalMachine
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

from ._dnsmasq import DnsmasqFiles, dnsmasq_arguments, find_dnsmasq
from ._errors import DhcpError
from ._files import (
    hosts_text,
    make_directory,
    network_servers,
    options_text,
    parse_bindings,
    prune_leases,
    read_leases,
    stale_leases,
    write_text_atomic,
)
from ._interfaces import check_readable, server_address
from ._previous import end_previous
from ._release import send_release

#: dnsmasq output lines kept for the log of a crash.
TAIL_LINES = 20
#: dnsmasq output lines logged per window; the rest are counted, because
#: a LAN full of other DHCP clients makes dnsmasq log every ignored one.
LOG_BURST = 50
LOG_WINDOW = 60.0


def _fire(waiters):
    for waiter in waiters:
        waiter.callback(None)


def describe_exit(reason) -> str:
    """Describe how a child process ended, for logs."""
    value = reason.value
    number = getattr(value, "signal", None)
    if number is not None:
        return f"signal {number} ({signal.Signals(number).name})"
    return f"exit code {getattr(value, 'exitCode', None)}"


class _DnsmasqProtocol(ProcessProtocol):
    """Split dnsmasq's output into lines for its server."""

    def __init__(self, server):
        self._server = server
        self._partial = b""

    def connectionMade(self):
        self.transport.closeStdin()

    def childDataReceived(self, childFD, data):
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self._server._line(line.decode("utf-8", "replace").rstrip())

    def processEnded(self, reason):
        self._server._exited(reason)


class DhcpServer:
    """
    dnsmasq serving DHCP on one bridge with fixed MAC to address
    bindings, and nothing to any other MAC.

    The bridge needs an IPv4 address inside each of ``range_networks``,
    because dnsmasq serves a range only through an interface address in
    it, and names that address as the DHCP server.

    :param reactor: provides ``spawnProcess`` and ``callLater``.
    :param directory: where the hosts, options, lease and pid files live;
        created if missing. Other users must be able to pass through it
        and its parents, because dnsmasq reads the files after it drops
        root.
    :param range_networks: the networks that bound addresses come from,
        such as ``["10.213.7.0/24"]``, or one network as a string.
    :param lease_time: seconds.
    :param restart_delay: seconds before the first restart of a dnsmasq
        that exited; each further exit doubles it, up to
        ``max_restart_delay``, until one has run ``stable_after`` seconds.
    :param stop_timeout: seconds between SIGTERM and SIGKILL in
        :meth:`stop`.
    :param executable: the dnsmasq binary, by name or path.
    :param locate_server: ``locate_server(bridge, network)`` returns the
        bridge's address in a range or raises :class:`DhcpError`.
    :param release: ``release(bridge, server, lease)`` sends a
        DHCPRELEASE for a lease.
    """

    log = Logger()
    _machine = MethodicalMachine()

    def __init__(
        self,
        reactor,
        bridge: str,
        directory: Path,
        range_networks,
        lease_time: int = 3600,
        executable: str = "dnsmasq",
        restart_delay: float = 1.0,
        max_restart_delay: float = 60.0,
        stable_after: float = 30.0,
        stop_timeout: float = 5.0,
        locate_server=server_address,
        release=send_release,
    ):
        self._reactor = reactor
        self.bridge = bridge
        self.directory = Path(directory).absolute()
        self.networks = _networks(range_networks)
        self._lease_time = lease_time
        self._executable = executable
        self._restart_delay = restart_delay
        self._max_restart_delay = max_restart_delay
        self._stable_after = stable_after
        self._stop_timeout = stop_timeout
        self._locate_server = locate_server
        self._release = release
        self.files = DnsmasqFiles.in_directory(str(self.directory))

        self._bindings = []
        self._network_servers = {}
        self._servers = {}
        self._transport = None
        self._pid = None
        self._started_at = 0.0
        self._failures = 0
        self._calls = {}
        self._pending, self._in_flight = [], []
        self._stop_waiters = []
        self._tail = collections.deque(maxlen=TAIL_LINES)
        self._logged, self._suppressed, self._window_start = 0, 0, 0.0

    # Public interface.

    @property
    def pid(self) -> int | None:
        """The running dnsmasq's process id, or ``None``."""
        return None if self._transport is None else self._pid

    @property
    def servers(self) -> dict:
        """
        The bridge address dnsmasq serves each network from, once
        started; a network whose address is missing is left out.
        """
        return dict(self._servers)

    def start(self) -> Deferred:
        """
        Write the current bindings and start dnsmasq, after stopping one
        that a killed Cell process left running on the same files.

        :return: a Deferred that fires once dnsmasq has read its files.
        :raises DhcpError: dnsmasq is not installed, the bridge is missing
            or has no address in any of the ranges, or dnsmasq could not
            read the directory.
        """
        self._executable = find_dnsmasq(self._executable)
        self._write_files()
        check_readable(self.directory)
        self._servers = self._locate_servers()
        previous = end_previous(Path(self.files.pid), Path(self.files.hosts))
        if previous is not None:
            self.log.warn(
                "stopped dnsmasq (pid {pid}) left running on {bridge} by an "
                "earlier Cell process",
                pid=previous,
                bridge=self.bridge,
            )
        waiter = Deferred()
        self._pending.append(waiter)
        self._start()
        return waiter

    def set_bindings(self, bindings, gateway=None, dns=()) -> Deferred:
        """
        Replace the bindings, write them and have dnsmasq read them.

        :param bindings: ``{mac: (address, hostname)}``, or
            ``{mac: (address, hostname, network)}`` with the instance's
            network settings (``prefix``, ``gateway``, ``dns``) as in
            :func:`~nano.cell.network._files.parse_bindings`;
            ``hostname`` may be ``None``.
        :param gateway: the router offered to bindings of two items, or
            ``None``.
        :param dns: the DNS servers offered to those, possibly none.
        :return: a Deferred that fires once dnsmasq has read the new files,
            or at once when it is not running: the next start reads them.
        :raises DhcpError: naming an invalid MAC, address, host name or
            server address.
        """
        parsed = parse_bindings(bindings, self.networks, gateway, dns)
        self._network_servers = network_servers(parsed)
        self._bindings = sorted(
            parsed, key=lambda b: ipaddress.IPv4Address(b.address)
        )
        self._write_files()
        waiter = Deferred()
        self._pending.append(waiter)
        self._reload()
        return waiter

    def stop(self) -> Deferred:
        """
        End dnsmasq by its process id: SIGTERM, then SIGKILL after
        ``stop_timeout`` seconds.

        :return: a Deferred that fires once it has exited.
        """
        waiter = Deferred()
        self._stop_waiters.append(waiter)
        self._stop()
        return waiter

    # The state machine.

    @_machine.state(initial=True)
    def _idle(self):
        """No dnsmasq runs or is due to."""

    @_machine.state()
    def _spawning(self):
        """dnsmasq started and has not yet logged reading its files."""

    @_machine.state()
    def _running(self):
        """dnsmasq serves the files it read."""

    @_machine.state()
    def _waiting(self):
        """dnsmasq exited; a restart is scheduled."""

    @_machine.state()
    def _stopping(self):
        """dnsmasq was sent SIGTERM."""

    @_machine.input()
    def _start(self):
        """Start was requested."""

    @_machine.input()
    def _reload(self):
        """New files were written."""

    @_machine.input()
    def _files_read(self):
        """dnsmasq logged reading the options file, its last one."""

    @_machine.input()
    def _exited(self, reason):
        """The dnsmasq process ended."""

    @_machine.input()
    def _retry(self):
        """The restart delay is over and the bridge is usable."""

    @_machine.input()
    def _stop(self):
        """Stop was requested."""

    @_machine.output()
    def _spawn(self):
        removed = prune_leases(Path(self.files.leases), self._bindings)
        for line in removed:
            self.log.info("removed unbound DHCP lease {lease}", lease=line)
        self._in_flight, self._pending = self._pending, []
        self._tail.clear()
        arguments = dnsmasq_arguments(
            self.bridge, self.networks, self._lease_time, self.files
        )
        self._transport = self._reactor.spawnProcess(
            _DnsmasqProtocol(self),
            self._executable,
            [self._executable, *arguments],
            env={"LC_ALL": "C", "PATH": os.defpath},
        )
        self._pid = self._transport.pid
        self._started_at = self._reactor.seconds()
        self.log.info(
            "started dnsmasq (pid {pid}) on {bridge} for {networks}",
            pid=self._pid,
            bridge=self.bridge,
            networks=", ".join(map(str, self.networks)),
        )

    @_machine.output()
    def _finish_reload(self):
        waiters, self._in_flight = self._in_flight, []
        self._release_stale_leases()
        if self._pending:
            self._send_reload()
        _fire(waiters)

    @_machine.output()
    def _reload_if_idle(self):
        if not self._in_flight:
            self._send_reload()

    @_machine.output()
    def _confirm_now(self):
        waiters, self._pending = self._pending, []
        _fire(waiters)

    @_machine.output()
    def _schedule_restart(self, reason):
        if self._reactor.seconds() - self._started_at >= self._stable_after:
            self._failures = 0
        self.log.error(
            "dnsmasq (pid {pid}) exited with {status}; last output:\n{tail}",
            pid=self.pid,
            status=describe_exit(reason),
            tail="\n".join(self._tail) or "(none)",
        )
        self._transport = None
        self._pending = self._in_flight + self._pending
        self._in_flight = []
        self._schedule_attempt()

    @_machine.output()
    def _terminate(self):
        self._signal("TERM")
        self._later("kill", self._stop_timeout, self._signal, "KILL")

    @_machine.output()
    def _cancel_restart(self):
        self._cancel("restart")

    @_machine.output()
    def _finish_stop(self):
        self._complete_stop()

    @_machine.output()
    def _finish_stop_on_exit(self, reason):
        self._complete_stop()

    def _complete_stop(self):
        self._cancel("kill")
        if self._transport is not None:
            self.log.info("dnsmasq (pid {pid}) stopped", pid=self.pid)
        self._transport = None
        waiters = self._stop_waiters + self._in_flight + self._pending
        self._stop_waiters, self._in_flight, self._pending = [], [], []
        _fire(waiters)

    _idle.upon(_start, enter=_spawning, outputs=[_spawn])
    _idle.upon(_reload, enter=_idle, outputs=[_confirm_now])
    _idle.upon(_stop, enter=_idle, outputs=[_finish_stop])
    _spawning.upon(_files_read, enter=_running, outputs=[_finish_reload])
    _spawning.upon(_reload, enter=_spawning, outputs=[])
    _spawning.upon(_exited, enter=_waiting, outputs=[_schedule_restart])
    _spawning.upon(_stop, enter=_stopping, outputs=[_terminate])
    _running.upon(_files_read, enter=_running, outputs=[_finish_reload])
    _running.upon(_reload, enter=_running, outputs=[_reload_if_idle])
    _running.upon(_exited, enter=_waiting, outputs=[_schedule_restart])
    _running.upon(_stop, enter=_stopping, outputs=[_terminate])
    _waiting.upon(_retry, enter=_spawning, outputs=[_spawn])
    _waiting.upon(_reload, enter=_waiting, outputs=[])
    _waiting.upon(_stop, enter=_idle, outputs=[_cancel_restart, _finish_stop])
    _stopping.upon(_exited, enter=_idle, outputs=[_finish_stop_on_exit])
    _stopping.upon(_files_read, enter=_stopping, outputs=[])
    _stopping.upon(_reload, enter=_stopping, outputs=[])
    _stopping.upon(_stop, enter=_stopping, outputs=[])

    # Helpers of the outputs.

    def _send_reload(self):
        self._in_flight, self._pending = self._pending, []
        self._signal("HUP")

    def _signal(self, name):
        # When the process has just exited, processEnded follows and moves
        # the machine on.
        with contextlib.suppress(ProcessExitedAlready):
            self._transport.signalProcess(name)

    def _schedule_attempt(self):
        self._failures += 1
        delay = min(
            self._max_restart_delay,
            self._restart_delay * 2 ** (self._failures - 1),
        )
        self.log.info(
            "restarting dnsmasq on {bridge} in {delay} s",
            bridge=self.bridge,
            delay=delay,
        )
        self._later("restart", delay, self._attempt_restart)

    def _attempt_restart(self):
        try:
            self._servers = self._locate_servers()
        except DhcpError as error:
            self.log.error("cannot restart dnsmasq: {error}", error=error)
            self._schedule_attempt()
            return
        self._retry()

    def _locate_servers(self):
        """
        Return the bridge's address in each network. A network without
        one is logged, because dnsmasq cannot serve it but can serve the
        others.

        :raises DhcpError: the bridge is missing, or has an address in
            none of the networks.
        """
        servers, errors = {}, []
        for network in self.networks:
            try:
                servers[network] = self._locate_server(self.bridge, network)
            except DhcpError as error:
                errors.append(error)
        if not servers:
            raise errors[0]
        for error in errors:
            self.log.error("DHCP is not served: {error}", error=error)
        return servers

    def _server_for(self, address):
        host = ipaddress.IPv4Address(address)
        for network, server in self._servers.items():
            if host in network:
                return server
        return None

    def _release_stale_leases(self):
        leases = read_leases(Path(self.files.leases))
        for lease in stale_leases(leases, self._bindings):
            server = self._server_for(lease.address)
            if server is None:
                continue
            try:
                self._release(self.bridge, server, lease)
            except OSError as error:
                self.log.error(
                    "cannot release the DHCP lease of {mac} on {address}: "
                    "{error}",
                    mac=lease.mac,
                    address=lease.address,
                    error=error,
                )
            else:
                self.log.info(
                    "released the DHCP lease of {mac} on {address}",
                    mac=lease.mac,
                    address=lease.address,
                )

    def _write_files(self):
        # NOTE: the fsyncs block the reactor thread, 1 to 6 ms per change
        # on the development VM (benchmarks/dhcp.py); changes come only
        # with creates and deletes.
        make_directory(self.directory)
        write_text_atomic(Path(self.files.hosts), hosts_text(self._bindings))
        write_text_atomic(
            Path(self.files.options),
            options_text(self.networks, self._network_servers),
        )

    def _line(self, line):
        self._tail.append(line)
        self._log_line(line)
        if line.endswith(f": read {self.files.options}"):
            self._files_read()

    def _log_line(self, line):
        now = self._reactor.seconds()
        if now - self._window_start >= LOG_WINDOW:
            if self._suppressed:
                self.log.info(
                    "dnsmasq wrote {count} more lines, not logged",
                    count=self._suppressed,
                )
            self._window_start, self._logged, self._suppressed = now, 0, 0
        if self._logged < LOG_BURST:
            self._logged += 1
            self.log.info("{line}", line=line)
        else:
            self._suppressed += 1

    def _later(self, name, delay, function, *arguments):
        def call():
            del self._calls[name]
            function(*arguments)

        self._calls[name] = self._reactor.callLater(delay, call)

    def _cancel(self, name):
        call = self._calls.pop(name, None)
        if call is not None:
            call.cancel()


def _networks(values) -> tuple:
    """Parse the range networks into a sorted tuple without repeats."""
    if isinstance(values, str):
        values = [values]
    networks = {_network(value) for value in values}
    if not networks:
        raise DhcpError(
            "no DHCP range given: serve at least one network, such as "
            "10.213.7.0/24"
        )
    return tuple(sorted(networks))


def _network(value):
    try:
        return ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise DhcpError(
            f"invalid DHCP range {value!r}: must be an IPv4 network such as "
            "10.213.7.0/24"
        ) from None
