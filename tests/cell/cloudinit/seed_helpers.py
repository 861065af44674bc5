"""Read seed ISOs back, with pycdlib and with the independent isoinfo."""

import io
import shutil
import subprocess

import pycdlib
import yaml

SEED_FILES = ("meta-data", "user-data", "network-config")

INSTANCE_ID = "0f3c4a8e-6d2b-4f7a-9c1e-5b8d2a7e4c61"
MAC = "52:54:00:3a:7c:10"
STATIC = {
    "address": "10.213.7.10",
    "prefix": 24,
    "gateway": "10.213.7.1",
    "dns": ["10.213.7.1", "10.213.8.1"],
    "provider": "cloudinit",
}
DHCP = dict(STATIC, provider="dhcp")


def cloud_init(**changes):
    """Return cloud-init settings as Core sends them, with ``changes``."""
    settings = {
        "hostname": "ops.web_01",
        "admin_name": "nano",
        "admin_secret": "Secret-42 pass",
        "root_enabled": False,
        "data_path": "/opt/data",
    }
    settings.update(changes)
    return settings


def read_with_pycdlib(path):
    """
    Return ``(volume identifier, {Rock Ridge name: bytes})`` of an ISO,
    and check that the Joliet tree has the same names.
    """
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        label = iso.pvd.volume_identifier.decode("ascii").rstrip()
        files = {}
        for record in iso.list_children(rr_path="/"):
            if record.is_dot() or record.is_dotdot():
                continue
            name = record.rock_ridge.name().decode("utf-8")
            stream = io.BytesIO()
            iso.get_file_from_iso_fp(stream, rr_path=f"/{name}")
            files[name] = stream.getvalue()
        joliet = {
            record.file_identifier().decode("utf-16-be")
            for record in iso.list_children(joliet_path="/")
            if not (record.is_dot() or record.is_dotdot())
        }
    finally:
        iso.close()
    assert joliet == set(files), (joliet, set(files))
    return label, files


def isoinfo():
    """Return the isoinfo program (Debian package genisoimage), or None."""
    return shutil.which("isoinfo")


def read_with_isoinfo(path):
    """
    Return ``(volume id, {name: bytes})`` as isoinfo reads the ISO's
    Rock Ridge tree; it shares no code with pycdlib.
    """
    program = isoinfo()
    description = _run([program, "-d", "-i", str(path)]).decode()
    label = next(
        line.split(":", 1)[1].strip()
        for line in description.splitlines()
        if line.startswith("Volume id:")
    )
    listing = _run([program, "-R", "-f", "-i", str(path)]).decode()
    files = {}
    for entry in listing.split():
        files[entry.lstrip("/")] = _run(
            [program, "-R", "-i", str(path), "-x", entry]
        )
    return label, files


def _run(command):
    return subprocess.run(command, check=True, capture_output=True).stdout


def parse_user_data(data):
    """Parse user-data after checking its ``#cloud-config`` first line."""
    text = data.decode("utf-8")
    first, _, rest = text.partition("\n")
    assert first == "#cloud-config", first
    return yaml.safe_load(rest)
