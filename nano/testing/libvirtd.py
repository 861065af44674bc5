"""
A private libvirtd for tests with real QEMU, isolated from any system
libvirtd on the machine.

libvirt's privileged state directories are compiled in, so the daemon
runs in its own mount namespace with those directories bind-mounted from
a scratch directory. Its socket stays outside the namespace, where the
test connects with :attr:`PrivateLibvirtd.uri`. QEMU writes its console
and log output to files itself (``stdio_handler = "file"``), so no
virtlogd is needed. The QEMU capability cache is kept between runs,
because probing QEMU takes seconds on a fresh daemon.
"""

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time

CACHE_DIRECTORY = "/var/tmp/nano-test-libvirt-cache"
PROGRAMS = ("libvirtd", "unshare", "mount", "qemu-system-x86_64", "qemu-img")

# Bind-mounted inside the namespace: system path -> scratch subdirectory.
_MOUNTS = {
    "/run/libvirt": "run",
    "/var/lib/libvirt": "lib",
    "/var/log/libvirt": "log",
    "/etc/libvirt": "etc",
}


def unavailable_reason():
    """
    Return why a private libvirtd cannot run here, or ``None`` if it can.
    """
    if os.geteuid() != 0:
        return "a private libvirtd needs root (mount namespaces, QEMU)"
    for program in PROGRAMS:
        if shutil.which(program) is None:
            return f"{program} is not installed (run tools/install)"
    if not os.path.isdir("/etc/libvirt"):
        return "/etc/libvirt is missing: install libvirt-daemon-system"
    return None


class PrivateLibvirtd:
    """
    One libvirtd process with its own state, started and stopped by PID.

    :param directory: an empty scratch directory for the daemon's state,
        configuration, socket and logs.
    :param cache_directory: QEMU capability cache kept between runs.
    """

    def __init__(self, directory, cache_directory=CACHE_DIRECTORY):
        self.directory = os.path.abspath(directory)
        self.cache_directory = cache_directory
        self.socket_path = os.path.join(self.directory, "sock", "libvirt-sock")
        self.log_path = os.path.join(self.directory, "log", "libvirtd.log")
        self.process = None

    @property
    def uri(self):
        """The libvirt URI that connects to this daemon."""
        return f"qemu:///system?socket={self.socket_path}"

    def start(self, timeout=15.0):
        """
        Write the configuration and start libvirtd; return once its socket
        accepts connections.

        :raises RuntimeError: the daemon exited or did not open its socket
            within ``timeout`` seconds; the message has its log's tail.
        """
        self._prepare()
        with open(self._stdout_path(), "ab") as output:
            self.process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_socket(timeout)

    def stop(self, timeout=15.0):
        """
        Destroy and undefine every domain, then stop the daemon: SIGTERM,
        then SIGKILL after ``timeout`` seconds. QEMU processes outlive a
        killed libvirtd, so the domains go first, and any QEMU left is
        killed by the PID libvirt recorded.
        """
        if self.process is None:
            return
        try:
            self.remove_domains()
        finally:
            self._terminate(timeout)
            self._kill_leftover_qemu()
            self.process = None

    def restart(self, timeout=15.0):
        """
        Stop libvirtd and start it again with the same state, as an
        upgrade or a crash would; running QEMU processes survive.
        """
        self._terminate(timeout)
        self.process = None
        self.start(timeout)

    def remove_domains(self):
        """Destroy and undefine every domain of this daemon."""
        import libvirt

        connection = libvirt.open(self.uri)
        try:
            for domain in connection.listAllDomains(0):
                if domain.isActive():
                    domain.destroy()
                if domain.isPersistent():
                    domain.undefine()
        finally:
            connection.close()

    def _prepare(self):
        for name in ("run", "lib", "log/qemu", "sock"):
            os.makedirs(os.path.join(self.directory, name), exist_ok=True)
        os.makedirs(self.cache_directory, exist_ok=True)
        etc = os.path.join(self.directory, "etc")
        if not os.path.exists(etc):
            shutil.copytree("/etc/libvirt", etc, symlinks=True)
            with open(os.path.join(etc, "qemu.conf"), "a") as config:
                config.write(_QEMU_CONF + _display_ports())
        # The default network NATs guests out of the machine's uplink.
        shutil.rmtree(
            os.path.join(etc, "qemu", "networks", "autostart"),
            ignore_errors=True,
        )
        with open(os.path.join(etc, "libvirtd.conf"), "w") as config:
            config.write(self._libvirtd_conf())

    def _libvirtd_conf(self):
        return (
            f'unix_sock_dir = "{os.path.dirname(self.socket_path)}"\n'
            'unix_sock_rw_perms = "0700"\n'
            'auth_unix_rw = "none"\n'
            'auth_unix_ro = "none"\n'
            f'log_outputs = "3:file:{self.log_path}"\n'
        )

    def _command(self):
        sources = {
            target: os.path.join(self.directory, source)
            for target, source in _MOUNTS.items()
        }
        sources["/var/cache/libvirt"] = self.cache_directory
        # The mount points must exist; /run/libvirt is missing on a host
        # where no libvirtd ever ran, and mkdir creates it for everyone.
        steps = ["set -e", "mkdir -p " + " ".join(map(shlex.quote, sources))]
        for target, source in sources.items():
            steps.append(f"mount --bind {shlex.quote(source)} {target}")
        config = os.path.join(self.directory, "etc", "libvirtd.conf")
        pidfile = os.path.join(self.directory, "libvirtd.pid")
        steps.append(
            f"exec libvirtd -f {shlex.quote(config)} -p {shlex.quote(pidfile)}"
        )
        # unshare and sh exec in turn, so the Popen PID is libvirtd's.
        unshare = ["unshare", "--mount", "--propagation", "private"]
        return [*unshare, "sh", "-c", "; ".join(steps)]

    def _wait_for_socket(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(
                    "libvirtd exited during start-up:\n" + self._log_tail()
                )
            if self._socket_accepts():
                return
            time.sleep(0.05)
        self._terminate(5.0)
        raise RuntimeError(
            f"libvirtd opened no socket at {self.socket_path} within "
            f"{timeout} s:\n" + self._log_tail()
        )

    def _socket_accepts(self):
        with socket.socket(socket.AF_UNIX) as client:
            try:
                client.connect(self.socket_path)
            except OSError:
                return False
            return True

    def _terminate(self, timeout):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _kill_leftover_qemu(self):
        directory = os.path.join(self.directory, "run", "qemu")
        if not os.path.isdir(directory):
            return
        for name in os.listdir(directory):
            if name.endswith(".pid") and name != _DRIVER_PIDFILE:
                _kill_qemu(os.path.join(directory, name))

    def _log_tail(self, lines=20):
        text = ""
        for path in (self.log_path, self._stdout_path()):
            if os.path.exists(path):
                with open(path, errors="replace") as log:
                    text += "".join(log.readlines()[-lines:])
        return text

    def _stdout_path(self):
        return os.path.join(self.directory, "log", "libvirtd.stdout")


# QEMU runs as root so that test files need no change of owner, and
# writes console logs itself instead of through virtlogd.
_QEMU_CONF = """
stdio_handler = "file"
user = "root"
group = "root"
"""


def _display_ports():
    """
    Return qemu.conf lines giving this daemon its own 100 VNC ports, so
    that daemons started side by side do not hand QEMU the same port.
    """
    low = 5900 + (os.getpid() % 500) * 100
    return (
        f"remote_display_port_min = {low}\n"
        f"remote_display_port_max = {low + 99}\n"
    )


# libvirtd's own lock file in the QEMU driver's state directory.
_DRIVER_PIDFILE = "driver.pid"


def _kill_qemu(pidfile_path):
    """Kill the process in a domain's PID file if it is still QEMU."""
    try:
        with open(pidfile_path) as pidfile:
            pid = int(pidfile.read().strip())
        with open(f"/proc/{pid}/comm") as comm:
            if not comm.read().startswith("qemu"):
                return
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass  # the process is gone, or the PID file is empty
