"""The quick start's console reading and directory modes."""

import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from nano.cli.quickstart._addresses import (
    boot_lines,
    console_text,
    leased_address,
    open_directories,
)
from nano.cli.quickstart._report import QuickstartError

BOOTED = "NANO-GUEST-BOOTED hostname=nano-guest uptime=1.50"
LEASE = (
    "NANO-GUEST-LEASE iface=eth0 ip=10.213.246.100 mask=24 "
    "router=10.213.246.1 hostname=quickstart-vm"
)


def test_console_text_after_offset(tmp_path):
    """Only what was written after the offset is read."""
    console = tmp_path / "console.log"
    console.write_bytes(b"old boot\nnew boot\n")
    assert console_text(console, len(b"old boot\n")) == "new boot\n"


def test_console_text_missing_log(tmp_path):
    """A console log QEMU has not created yet reads as empty."""
    assert console_text(tmp_path / "absent.log", 0) == ""


def test_boot_lines_of_last_boot():
    """Lines start at the last boot marker: a reboot's old lease is out."""
    text = "\n".join([BOOTED, LEASE, "reboot", BOOTED, "udhcpc: sending"])
    assert boot_lines(text) == [BOOTED, "udhcpc: sending"]


def test_boot_lines_before_boot():
    """Before the boot marker there are no lines."""
    assert boot_lines("SeaBIOS\nBooting from Hard Disk...\n") == []


def test_leased_address_found():
    """The lease line's ip= field is the leased address."""
    assert leased_address([BOOTED, LEASE]) == "10.213.246.100"


def test_leased_address_pending():
    """While the guest waits for DHCP there is no address yet."""
    assert leased_address([BOOTED, "udhcpc: sending discover"]) is None


def test_no_lease_is_an_error():
    """A guest that got no DHCP lease fails with where to look."""
    with pytest.raises(QuickstartError) as raised:
        leased_address([BOOTED, "NANO-GUEST-NOLEASE"])
    assert "no DHCP lease" in str(raised.value)
    assert "Cell log" in str(raised.value)


@pytest.fixture
def open_root():
    """A directory under /tmp that others can pass (pytest's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="nano-quickstart-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_open_directories_adds_search_bit(open_root):
    """Closed directories get o+x and are returned; others are kept."""
    closed = open_root / "closed"
    inner = closed / "data"
    inner.mkdir(parents=True)
    closed.chmod(0o700)
    inner.chmod(0o750)

    assert open_directories(inner) == [closed, inner]
    assert stat.S_IMODE(closed.stat().st_mode) == 0o701
    assert stat.S_IMODE(inner.stat().st_mode) == 0o751
    assert stat.S_IMODE(open_root.stat().st_mode) == 0o755
    assert open_directories(inner) == []
