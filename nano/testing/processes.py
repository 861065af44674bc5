"""Helpers for tests and benchmarks that run Nano's daemons as processes."""

import socket
import sys
import time
from pathlib import Path

#: The twistd of the running interpreter's environment.
TWISTD = Path(sys.executable).parent / "twistd"


def free_port(kind=socket.SOCK_STREAM) -> int:
    """Return a free loopback port of ``kind``."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, timeout, description, interval=0.1):
    """
    Call ``check`` every ``interval`` seconds until it returns a true
    value, and return that.

    :raises AssertionError: naming ``description`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {description}"
    )
