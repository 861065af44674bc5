"""
Guests from disk images and media images, end to end with real
processes and QEMU. Images are uploaded through the REST API, and the
Cell downloads each one once over Core's HTTPS image service.
"""

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pycdlib
import pytest

import nano.tls

from .guest_helpers import create_guest, domain_state, wait_created
from .processes import wait_until

libvirt = pytest.importorskip("libvirt")
if not hasattr(nano.tls, "fetch_image"):
    pytest.skip(
        "nano.tls.fetch_image is missing, so Cells cannot download images",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.slow, pytest.mark.root]

GUEST_DIRECTORY = Path("/var/tmp/nano-test-guest")
GUEST_IMAGE = GUEST_DIRECTORY / "nano-test-guest.qcow2"
BOOT_MARKER = "NANO-GUEST-BOOTED"
BOOT_TIMEOUT = 90


def upload_image(core, path: Path) -> str:
    """Create a disk image record, upload ``path`` into it; return its id."""
    body = {"name": "test-guest", "owner": "admin", "group": "manager"}
    image_id = core.data("POST", "/api/v1/disk_images/", body, status=201)[
        "id"
    ]
    code, envelope = core.upload(f"/api/v1/disk_images/{image_id}/file/", path)
    assert code in (200, 201, 202), envelope
    wait_until(
        lambda: core.data("GET", f"/api/v1/disk_images/{image_id}").get(
            "created"
        ),
        30,
        "the upload to be stored",
    )
    return image_id


def console_log(root: Path, guest_id: str) -> Path:
    """Return the serial console log of a guest on the test Cell."""
    return root / "cell-data" / "consoles" / f"{guest_id}.log"


def booted(root, guest_id) -> bool:
    """Return whether the guest's console shows the boot marker."""
    path = console_log(root, guest_id)
    return path.exists() and BOOT_MARKER in path.read_text(errors="replace")


@pytest.mark.skipif(
    not GUEST_IMAGE.exists(),
    reason="run tools/build-test-guest /var/tmp/nano-test-guest first",
)
def test_two_guests_from_one_image(cluster, tmp_path):
    """
    Two guests created from one uploaded image boot; the Cell fetches
    the image once, and deleting them removes their volumes.
    """
    core, cell, uri = cluster
    image_id = upload_image(core, GUEST_IMAGE)
    manifest = json.loads((GUEST_DIRECTORY / "manifest.json").read_text())
    sha256 = manifest["files"][GUEST_IMAGE.name]["sha256"]

    guests = [
        create_guest(core, name=f"from-image-{n}", from_image=image_id)
        for n in (1, 2)
    ]
    for guest_id in guests:
        wait_created(core, guest_id)
    for guest_id in guests:
        wait_until(
            lambda guest_id=guest_id: booted(tmp_path, guest_id),
            BOOT_TIMEOUT,
            f"guest {guest_id} to boot:\n{cell.log()[-3000:]}",
        )
        assert domain_state(uri, guest_id) == libvirt.VIR_DOMAIN_RUNNING
        guest = core.data("GET", f"/api/v1/guests/{guest_id}")
        assert guest["from_image"] == image_id
        assert guest["ethernet_address"].startswith("52:54:00:")

    cached = sorted((cell.volumes / "images").iterdir())
    assert [path.name for path in cached] == [f"{sha256}.qcow2"]
    assert cell.log().count("Fetched disk image") == 1
    assert core.log().count(f"Sending disk image {image_id}") == 1

    for guest_id in guests:
        core.data("DELETE", f"/api/v1/guests/{guest_id}")
        assert domain_state(uri, guest_id) is None
    volumes = [path.name for path in cell.volumes.iterdir()]
    assert volumes == ["images"]
    assert (cell.volumes / "images" / f"{sha256}.qcow2").exists()


def make_iso(path: Path) -> Path:
    """Write a small ISO 9660 image with one file."""
    iso = pycdlib.PyCdlib()
    iso.new(vol_ident="NANOE2E")
    data = b"nano e2e media\n"
    iso.add_fp(io.BytesIO(data), len(data), "/README.TXT;1")
    iso.write(str(path))
    iso.close()
    return path


def upload_media(core, path: Path) -> str:
    """Create a media image record, upload ``path``; return its id."""
    body = {"name": "test-media", "owner": "admin", "group": "manager"}
    image_id = core.data("POST", "/api/v1/media_images/", body, status=201)[
        "id"
    ]
    code, envelope = core.upload(
        f"/api/v1/media_images/{image_id}/file/", path
    )
    assert code in (200, 201, 202), envelope
    return image_id


def domain_xml(uri, guest_id, flags=0):
    """Return the libvirt domain's XML."""
    connection = libvirt.open(uri)
    try:
        return connection.lookupByUUIDString(guest_id).XMLDesc(flags)
    finally:
        connection.close()


def media_source(xml):
    """Return the file in the first CD-ROM drive of a domain, or None."""
    drive = ET.fromstring(xml).find("devices/disk[@device='cdrom']")
    source = drive.find("source")
    return None if source is None else source.get("file")


@pytest.mark.skipif(
    not GUEST_IMAGE.exists(),
    reason="run tools/build-test-guest /var/tmp/nano-test-guest first",
)
def test_media_insert_eject_and_boot(cluster, tmp_path):
    """
    An uploaded ISO goes into a running guest's drive and out again, and
    a stopped guest starts from it with the drive first in boot order.
    """
    core, cell, uri = cluster
    media_id = upload_media(core, make_iso(tmp_path / "media.iso"))
    image_id = upload_image(core, GUEST_IMAGE)
    guest_id = create_guest(core, name="media-guest", from_image=image_id)
    wait_created(core, guest_id)
    # The firmware probes the drive while it boots and can close its tray
    # under libvirt; the test guest loads no CD-ROM driver once booted.
    wait_until(
        lambda: booted(tmp_path, guest_id),
        BOOT_TIMEOUT,
        f"guest {guest_id} to boot:\n{cell.log()[-3000:]}",
    )
    path = f"/api/v1/instances/{guest_id}"

    core.data("POST", f"{path}/media", {"source": media_id})
    status = core.data("GET", path)
    assert status["media_attached"] is True
    assert status["media_source"] == media_id
    cached = media_source(domain_xml(uri, guest_id))
    assert cached is not None
    assert Path(cached).parent == cell.volumes / "images"
    assert Path(cached).suffix == ".iso"

    core.data("DELETE", f"{path}/media")
    assert core.data("GET", path)["media_attached"] is False
    assert media_source(domain_xml(uri, guest_id)) is None

    core.data("DELETE", path, {"force": True})
    core.data("POST", path, {"from_media": True, "source": media_id})
    assert domain_state(uri, guest_id) == libvirt.VIR_DOMAIN_RUNNING
    running = ET.fromstring(domain_xml(uri, guest_id))
    drive = running.find("devices/disk[@device='cdrom']")
    assert drive.find("boot").get("order") == "1"
    assert drive.find("source").get("file") == cached
    saved = domain_xml(uri, guest_id, libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert ET.fromstring(saved).find("os/boot").get("dev") == "hd"
    assert cell.log().count("Fetched media image") == 1

    core.data("DELETE", f"/api/v1/guests/{guest_id}")
    assert domain_state(uri, guest_id) is None
