"""
Ending a dnsmasq left running by an earlier Cell process that was killed
(SIGKILL, power to the process only), which still holds the DHCP port on
the bridge and the lease file.
"""

import contextlib
import os
import signal
import time
from pathlib import Path

#: Seconds to wait for a left-over dnsmasq to exit after SIGTERM, before
#: SIGKILL. dnsmasq exits on SIGTERM at once.
STOP_WAIT = 1.0
_POLL = 0.01


def end_previous(pid_file: Path, hosts_file: Path) -> int | None:
    """
    Stop the dnsmasq named in ``pid_file`` if it still runs and serves
    ``hosts_file``. A pid that now belongs to another process is left
    alone.

    This blocks for at most ``STOP_WAIT`` seconds, and only when such a
    process is found.

    :return: the pid that was stopped, or ``None``.
    """
    pid = _read_pid(pid_file)
    if pid is None or not _serves(pid, hosts_file):
        return None
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    while _serves(pid, hosts_file):
        if time.monotonic() >= deadline:
            _signal(pid, signal.SIGKILL)
            break
        time.sleep(_POLL)
    return pid


def _read_pid(pid_file):
    try:
        return int(Path(pid_file).read_text().strip())
    except (OSError, ValueError):
        return None


def _serves(pid, hosts_file):
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(arguments)
        and os.path.basename(arguments[0]) == b"dnsmasq"
        and f"--dhcp-hostsfile={hosts_file}".encode() in arguments
    )


def _signal(pid, number):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)
