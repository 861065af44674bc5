"""
Every ``nano`` command against a real ``twistd nano-core`` and a
``twistd nano-cell`` on libvirt's test driver.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .processes import CELL, wait_until

pytestmark = pytest.mark.slow
NANO = Path(sys.executable).parent / "nano"


def ok(result):
    """Check that a command succeeded; return its standard output."""
    assert result.exit_code == 0, result.output
    return result.stdout


def failed(result, code=1):
    """Check that a command failed cleanly; return its standard error."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stderr


def placed(nano, *arguments):
    """
    Run ``nano ARGS`` (a guest create), again while the scheduler finds no
    Cell: the Cell has not reported since it joined the pool, or the
    busy test machine's CPU load is above the scheduler's limit.
    """
    deadline = time.monotonic() + 60
    while True:
        result = nano(*arguments)
        unplaced = "no Cell of compute pool" in result.output
        if not unplaced or time.monotonic() > deadline:
            return result
        time.sleep(1)


def create_guest(nano, name, *options):
    """Create a guest, wait until it is created, and return it."""
    return json.loads(
        ok(placed(nano, "--json", "guest", "create", name, *options, "--wait"))
    )


@pytest.fixture(scope="module")
def pool_with_cell(cluster, nano_module):
    """Pool ``p`` with the test Cell in it, once the Cell reported."""
    wait_until(
        lambda: CELL in nano_module("cell", "list").stdout, 20, "the Cell"
    )
    ok(nano_module("pool", "create", "p"))
    ok(nano_module("cell", "add", "p", CELL))
    return "p"


def test_pool_created_listed_deleted(nano):
    """A pool created shows in the list, and is gone once deleted."""
    assert ok(nano("pool", "create", "web", "--storage", "nfs1")) == (
        "created compute pool web\n"
    )
    pools = json.loads(ok(nano("--json", "pool", "list")))
    web = [pool for pool in pools if pool["name"] == "web"]
    assert len(web) == 1
    assert web[0]["storage"] == "nfs1"
    assert "web" in ok(nano("pool", "list"))

    ok(nano("pool", "delete", "web"))
    pools = json.loads(ok(nano("--json", "pool", "list")))
    assert "web" not in [pool["name"] for pool in pools]


def test_pool_conflict_prints_core_message(nano):
    """A duplicate pool fails with Core's message and no traceback."""
    ok(nano("pool", "create", "twice"))
    error = failed(nano("pool", "create", "twice"))
    assert "twice" in error
    assert "exist" in error


def test_cell_added_and_removed(nano):
    """A connected Cell moves into a pool and back out of it."""
    wait_until(lambda: CELL in nano("cell", "list").stdout, 20, "the Cell")
    ok(nano("pool", "create", "moving"))
    assert ok(nano("cell", "add", "moving", CELL)) == (
        f"added Cell {CELL} to compute pool moving\n"
    )
    cells = json.loads(ok(nano("--json", "cell", "list", "--pool", "moving")))
    assert [cell["name"] for cell in cells] == [CELL]
    assert cells[0]["pool"] == "moving"

    ok(nano("cell", "remove", "moving", CELL))
    cells = json.loads(ok(nano("--json", "cell", "list")))
    assert {"name": CELL, "pool": ""}.items() <= cells[0].items()
    ok(nano("pool", "delete", "moving"))


def test_guest_life(nano, pool_with_cell, needs_qemu):
    """A guest is created, listed, shown, stopped, started and deleted."""
    guest = create_guest(
        nano,
        "cli-vm",
        "--pool",
        pool_with_cell,
        "--memory",
        "128M",
        "--disk",
        "1G",
        "--disk",
        "512M",
        "--cores",
        "2",
        "--auto-start",
    )
    guest_id = guest["id"]
    assert guest["created"] is True
    assert guest["memory"] == 128 * 1024**2
    assert guest["disks"] == [1024**3, 512 * 1024**2]
    assert guest["cores"] == 2

    listed = json.loads(ok(nano("--json", "guest", "list", "--pool", "p")))
    assert [row["id"] for row in listed] == [guest_id]
    assert "cli-vm" in ok(nano("guest", "show", guest_id))

    wait_until(
        lambda: json.loads(ok(nano("--json", "instance", "status", guest_id)))[
            "running"
        ],
        20,
        "the instance to run",
    )
    ok(nano("instance", "stop", guest_id, "--force"))
    status = json.loads(ok(nano("--json", "instance", "status", guest_id)))
    assert status["running"] is False
    assert ok(nano("instance", "start", guest_id)) == f"started {guest_id}\n"

    ok(nano("guest", "delete", guest_id))
    assert json.loads(ok(nano("--json", "guest", "list"))) == []


def test_guest_create_without_wait(nano, pool_with_cell, needs_qemu):
    """Without --wait, create prints the id; guest wait then waits."""
    output = ok(
        placed(nano, "guest", "create", "quick", "--pool", pool_with_cell)
    )
    assert output.startswith("creating guest quick: id ")
    guest_id = output.split()[-1]

    waited = ok(nano("guest", "wait", guest_id, "--timeout", "60"))
    assert waited == f"created guest quick: id {guest_id}\n"
    shown = json.loads(ok(nano("--json", "guest", "show", guest_id)))
    assert shown["created"] is True
    ok(nano("guest", "delete", guest_id))


def test_guest_wait_unknown(nano):
    """Waiting for an unknown guest fails with Core's 404 message."""
    error = failed(nano("guest", "wait", "f" * 32))
    assert "f" * 32 in error


def test_guest_bad_size_rejected(nano):
    """An invalid size is a usage error naming the value."""
    result = nano("guest", "create", "x", "--pool", "p", "--memory", "lots")
    error = failed(result, code=2)
    assert "invalid size 'lots'" in error


def test_guest_unknown_template(nano):
    """An unknown template name lists the names that exist."""
    result = nano("guest", "create", "x", "--pool", "p", "--template", "BeOS")
    error = failed(result)
    assert "'BeOS' not found" in error
    assert "'General'" in error


def test_unknown_guest_is_not_found(nano):
    """Showing an unknown guest prints Core's 404 message."""
    error = failed(nano("guest", "show", "0" * 32))
    assert "0" * 32 in error


def test_connection_refused(nano):
    """A wrong address names where the client tried and how to set it."""
    result = nano("--api", "127.0.0.1:1", "pool", "list")
    error = failed(result)
    assert "http://127.0.0.1:1" in error
    assert "NANO_API" in error


def test_wrong_key_rejected(nano):
    """A wrong API key fails with Core's signature message."""
    error = failed(nano("--api-key", "wrong", "pool", "list"))
    assert "signature" in error


def test_console_script(cluster):
    """The installed ``nano`` script runs and reads Core's api.cfg."""
    core, _ = cluster
    completed = subprocess.run(
        [
            str(NANO),
            "--config",
            str(core.api_cfg),
            "--api",
            f"127.0.0.1:{core.port}",
            "--json",
            "pool",
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    assert isinstance(json.loads(completed.stdout), list)


def qcow2(path: Path, size="64M") -> Path:
    """Write an empty qcow2 image of virtual ``size`` to ``path``."""
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path), size],
        check=True,
    )
    return path


def iso(path: Path) -> Path:
    """Write a minimal ISO 9660 file: a volume descriptor at 32 KiB."""
    content = bytearray(64 * 1024)
    content[32768:32774] = b"\x01CD001"
    path.write_bytes(bytes(content))
    return path


def test_disk_image_uploaded_and_deleted(nano, tmp_path):
    """A qcow2 file uploads with its size, shows, and is deleted."""
    path = qcow2(tmp_path / "tiny.qcow2")
    output = ok(nano("image", "upload", str(path), "--name", "tiny"))
    assert output.startswith(f"uploaded {path} as image ")
    image_id = output.split()[-1]

    images = json.loads(ok(nano("--json", "image", "list")))
    tiny = [image for image in images if image["id"] == image_id]
    assert len(tiny) == 1
    assert tiny[0]["name"] == "tiny"
    assert tiny[0]["size"] == path.stat().st_size
    assert tiny[0]["created"] is True
    shown = json.loads(ok(nano("--json", "image", "show", image_id)))
    assert shown["format"] == "qcow2"

    assert ok(nano("image", "delete", image_id)) == (
        f"deleted image {image_id}\n"
    )
    images = json.loads(ok(nano("--json", "image", "list")))
    assert image_id not in [image["id"] for image in images]


def test_media_image_uploaded(nano, tmp_path):
    """--media uploads an ISO as a media image, listed with --media."""
    path = iso(tmp_path / "rescue.iso")
    output = ok(nano("image", "upload", str(path), "--media"))
    image_id = output.split()[-1]

    media = json.loads(ok(nano("--json", "image", "list", "--media")))
    assert [image["name"] for image in media if image["id"] == image_id] == [
        "rescue"
    ]
    disks = json.loads(ok(nano("--json", "image", "list")))
    assert image_id not in [image["id"] for image in disks]
    ok(nano("image", "delete", image_id))


def test_invalid_image_leaves_no_record(nano, tmp_path):
    """A file that is not qcow2 fails with Core's reason, and no record."""
    path = tmp_path / "junk.qcow2"
    path.write_bytes(b"not an image at all" * 1000)
    error = failed(nano("image", "upload", str(path), "--name", "junk"))
    assert "qcow2" in error
    images = json.loads(ok(nano("--json", "image", "list")))
    assert "junk" not in [image["name"] for image in images]


def test_unknown_image_not_found(nano):
    """show names an image id that is neither disk nor media."""
    error = failed(nano("image", "show", "a" * 32))
    assert "a" * 32 in error
    assert "not found" in error


def address_pool(nano, name):
    """Return address pool ``name`` as the API returns it."""
    return json.loads(ok(nano("--json", "address-pool", "show", name)))


def test_address_pool_created_shown_deleted(nano):
    """An address pool keeps its settings, is listed, then deleted."""
    created = nano(
        "address-pool",
        "create",
        "lan",
        "--gateway",
        "10.213.31.1",
        "--dns",
        "10.213.31.1",
        "--dns",
        "10.213.31.2",
        "--provider",
        "cloudinit",
    )
    assert ok(created) == "created address pool lan\n"
    pool = address_pool(nano, "lan")
    assert pool["gateway"] == "10.213.31.1"
    assert pool["dns"] == ["10.213.31.1", "10.213.31.2"]
    assert pool["provider"] == "cloudinit"
    assert pool["mode"] == "internal"
    assert pool["ranges"] == []
    listed = json.loads(ok(nano("--json", "address-pool", "list")))
    assert [row["name"] for row in listed if row["name"] == "lan"] == ["lan"]
    assert "10.213.31.1" in ok(nano("address-pool", "list"))

    assert ok(nano("address-pool", "delete", "lan")) == (
        "deleted address pool lan\n"
    )
    error = failed(nano("address-pool", "show", "lan"))
    assert "lan" in error


def test_address_range_added_listed_removed(nano):
    """A range shows in the pool with its capacity, then goes."""
    ok(nano("address-pool", "create", "ranged", "--gateway", "10.213.32.1"))
    added = nano(
        "address-pool",
        "range",
        "add",
        "ranged",
        "10.213.32.10",
        "10.213.32.19",
        "--netmask",
        "255.255.255.0",
    )
    assert ok(added) == (
        "added internal range 10.213.32.10-10.213.32.19 to address pool "
        "ranged\n"
    )
    ranges = json.loads(
        ok(nano("--json", "address-pool", "range", "list", "ranged"))
    )
    assert [(r["start"], r["end"], r["capacity"]) for r in ranges] == [
        ("10.213.32.10", "10.213.32.19", 10)
    ]
    external = nano(
        "address-pool", "range", "list", "ranged", "--type", "external"
    )
    assert ok(external) == "no external ranges\n"
    shown = ok(nano("address-pool", "show", "ranged"))
    assert "10.213.32.19" in shown
    assert "no allocations" in shown

    removed = nano("address-pool", "range", "remove", "ranged", "10.213.32.10")
    assert ok(removed) == (
        "removed internal range 10.213.32.10 from address pool ranged\n"
    )
    assert address_pool(nano, "ranged")["ranges"] == []
    ok(nano("address-pool", "delete", "ranged"))


def test_address_range_overlap_rejected(nano):
    """An overlapping range fails with Core's message naming the range."""
    ok(nano("address-pool", "create", "first", "--gateway", "10.213.33.1"))
    ok(
        nano(
            "address-pool",
            "range",
            "add",
            "first",
            "10.213.33.10",
            "10.213.33.20",
        )
    )
    error = failed(
        nano(
            "address-pool",
            "range",
            "add",
            "first",
            "10.213.33.15",
            "10.213.33.30",
        )
    )
    assert "10.213.33.10" in error
    ok(nano("address-pool", "range", "remove", "first", "10.213.33.10"))
    ok(nano("address-pool", "delete", "first"))


def test_address_pool_bad_gateway_rejected(nano):
    """A gateway that is no IPv4 address is named in the error."""
    error = failed(
        nano("address-pool", "create", "bad", "--gateway", "10.213.1")
    )
    assert "10.213.1" in error


def test_pool_created_with_network(nano):
    """pool create --network binds an address pool; modify unbinds it."""
    ok(nano("address-pool", "create", "bound", "--gateway", "10.213.34.1"))
    ok(nano("pool", "create", "netted", "--network", "bound"))
    pools = json.loads(ok(nano("--json", "pool", "list")))
    assert [p["network"] for p in pools if p["name"] == "netted"] == ["bound"]
    error = failed(nano("address-pool", "delete", "bound"))
    assert "netted" in error

    assert ok(nano("pool", "modify", "netted", "--network", "")) == (
        "modified compute pool netted\n"
    )
    pools = json.loads(ok(nano("--json", "pool", "list")))
    assert [p["network"] for p in pools if p["name"] == "netted"] == [""]
    ok(nano("pool", "delete", "netted"))
    ok(nano("address-pool", "delete", "bound"))


def test_pool_modify_needs_a_change(nano):
    """pool modify without options is a usage error."""
    error = failed(nano("pool", "modify", "p"), code=2)
    assert "nothing to change" in error


def test_guest_show_prints_address(nano, pool_with_cell, needs_qemu):
    """A guest of a pool with an address pool shows its address."""
    ok(nano("address-pool", "create", "guests", "--gateway", "10.213.35.1"))
    ok(
        nano(
            "address-pool",
            "range",
            "add",
            "guests",
            "10.213.35.20",
            "10.213.35.29",
        )
    )
    ok(nano("pool", "modify", pool_with_cell, "--network", "guests"))
    try:
        guest = create_guest(nano, "addressed", "--pool", pool_with_cell)
        shown = ok(nano("guest", "show", guest["id"]))
        assert "address           10.213.35.20\n" in shown
        assert "internal" not in shown
        raw = json.loads(ok(nano("--json", "guest", "show", guest["id"])))
        assert raw["internal"] == {"allocated_address": "10.213.35.20"}
        ok(nano("guest", "delete", guest["id"]))
    finally:
        ok(nano("pool", "modify", pool_with_cell, "--network", ""))
    assert address_pool(nano, "guests")["allocated"] == []
    ok(nano("address-pool", "range", "remove", "guests", "10.213.35.20"))
    ok(nano("address-pool", "delete", "guests"))


def test_guest_show_without_address(nano, pool_with_cell, needs_qemu):
    """A guest of a pool with no address pool shows address none."""
    guest = create_guest(nano, "plain", "--pool", pool_with_cell)
    try:
        shown = ok(nano("guest", "show", guest["id"]))
        assert "\naddress" in shown
        assert shown.rstrip().endswith("none")
    finally:
        ok(nano("guest", "delete", guest["id"]))
