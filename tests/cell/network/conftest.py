"""Fixtures shared by the DHCP tests that use real network devices."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SAFETY_ROUTE = ["10.213.0.0/16", "metric", "4000"]


@pytest.fixture(scope="module")
def blackhole():
    """
    Drop 10.213.0.0/16 in the root namespace, so that no test address
    can reach eth0's gateway if a bridge or namespace goes away early.
    """
    routes = subprocess.run(
        ["ip", "route", "show", "type", "blackhole"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    added = "10.213.0.0/16" not in routes
    if added:
        subprocess.run(["ip", "route", "add", "blackhole", *SAFETY_ROUTE])
    yield
    if added:
        subprocess.run(["ip", "route", "del", "blackhole", *SAFETY_ROUTE])


@pytest.fixture(scope="module")
def open_directory():
    """
    A directory under /tmp that dnsmasq's unprivileged user can pass
    through (pytest's own temporary directories are mode 0700).
    """
    path = Path(tempfile.mkdtemp(prefix="nano-dhcp-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
