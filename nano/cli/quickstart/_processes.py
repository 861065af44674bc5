"""
The quick start's daemons: a private libvirtd and the two ``twistd``
processes, each stopped by the PID in its PID file.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nano.testing.libvirtd import PrivateLibvirtd

from ._report import QuickstartError

TWISTD = Path(sys.executable).parent / "twistd"
STOP_TIMEOUT = 20.0


def running_pid(pidfile: Path) -> int | None:
    """
    Return the PID in ``pidfile`` if that process runs and was started
    with this PID file, else None. A PID file left by a crash or a
    reboot may name an unrelated program that got the same PID.
    """
    pid = _read_pid(pidfile)
    if pid is None or not started_with(pid, pidfile):
        return None
    return pid


def _read_pid(pidfile: Path) -> int | None:
    """Return the PID in ``pidfile`` if such a process runs, else None."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def started_with(pid: int, pidfile: Path) -> bool:
    """
    Return whether the command line of ``pid`` names ``pidfile``, as an
    argument of its own or after ``=`` (``--pidfile=PATH``).
    """
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    expected = os.path.realpath(pidfile)
    for argument in command:
        value = argument.decode(errors="replace").rpartition("=")[2]
        if value and os.path.realpath(value) == expected:
            return True
    return False


def start_libvirtd(directory: Path) -> None:
    """
    Start a libvirtd of the quick start's own: its state, socket and
    configuration in ``directory``, QEMU running as root and writing
    console logs itself, and libvirt's NAT network off. It runs in its
    own mount namespace, so it shares nothing with a system libvirtd.
    """
    daemon = PrivateLibvirtd(
        str(directory), cache_directory=str(directory / "cache")
    )
    try:
        daemon.start(timeout=60.0)
    except RuntimeError as error:
        raise QuickstartError(f"libvirtd did not start: {error}") from None


def start_twistd(name, pidfile, logfile, arguments, cwd) -> None:
    """
    Start ``twistd NAME ARGUMENTS`` as a daemon with its PID and log
    files.

    :raises QuickstartError: twistd exited with an error before it
        daemonized; the message has its output.
    """
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    command = [str(TWISTD), f"--pidfile={pidfile}", f"--logfile={logfile}"]
    completed = subprocess.run(
        [*command, name, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()
        raise QuickstartError(f"{name} did not start: {output}")


def stop_pid(pidfile: Path, timeout: float = STOP_TIMEOUT) -> int | None:
    """
    Stop the process in ``pidfile``: SIGTERM, then SIGKILL after
    ``timeout`` seconds. Return its PID, or None if none was running.
    """
    pid = running_pid(pidfile)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    return pid


def alive(pid: int) -> bool:
    """Return whether ``pid`` runs (exists and is no zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # A zombie has exited; only its parent's wait is missing.
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def qemu_pids(libvirt_directory: Path) -> list[int]:
    """Return the PIDs of QEMU processes the private libvirtd started."""
    directory = libvirt_directory / "run" / "qemu"
    pids = []
    for pidfile in directory.glob("*.pid"):
        pid = _read_pid(pidfile)
        if pid is not None and _is_qemu(pid):
            pids.append(pid)
    return pids


def _is_qemu(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().startswith("qemu")
    except OSError:
        return False


def kill_qemu(libvirt_directory: Path) -> list[int]:
    """Kill QEMU processes left by a stopped libvirtd; return their PIDs."""
    pids = qemu_pids(libvirt_directory)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids
