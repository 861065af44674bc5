"""
Images on a real ``twistd nano-core`` process: upload a qcow2 made by
``qemu-img`` and an ISO made by pycdlib over the API, then download both
over the HTTPS image service, verified against the cluster CA.
"""

import hashlib
import http.client
import io
import json
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_core_process import Core, free_port

from nano.signing import Request, sign
from nano.tls import image_token

pytestmark = pytest.mark.slow


class ImageCore(Core):
    """A nano-core process whose image service listens on loopback."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.image_port = free_port()

    def start(self):
        # The base class starts twistd with its own arguments, so this
        # adds the image options through a wrapper of Popen's arguments.
        original = subprocess.Popen

        def popen(arguments, **options):
            arguments = [
                *arguments,
                "--image-port",
                str(self.image_port),
                "--image-interface",
                "127.0.0.1",
            ]
            return original(arguments, **options)

        subprocess.Popen = popen
        try:
            super().start()
        finally:
            subprocess.Popen = original
        _wait_for_port(self.image_port)

    def upload(self, kind, image_id, body: bytes, content_type: str):
        """POST a file as a streamed upload; return (status, envelope)."""
        path = f"/api/v1/{kind}_images/{image_id}/file/"
        headers = {
            "host": f"127.0.0.1:{self.port}",
            "content-type": content_type,
        }
        api_id, api_key = self.credential()
        request = Request("POST", path, "", headers, b"")
        headers.update(
            sign(request, api_id, api_key, datetime.now(UTC), streamed=True)
        )
        connection = http.client.HTTPConnection("127.0.0.1", self.port, 30)
        connection.request("POST", path, io.BytesIO(body), headers)
        response = connection.getresponse()
        reply = json.loads(response.read())
        connection.close()
        return response.status, reply

    def reference(self, kind, image_id) -> dict:
        """Build the image reference as Core sends it to Cells."""
        _, reply = self.call("GET", f"/api/v1/{kind}_images/{image_id}")
        config = self.root / "config"
        domain = json.loads((config / "domain.cfg").read_text())
        secret = bytes.fromhex(domain["secret"])
        sha256 = reply["data"]["sha256"]
        return {
            "id": image_id,
            "kind": kind,
            "sha256": sha256,
            "size": reply["data"]["size"],
            "port": self.image_port,
            "ca_certificate": (config / "cert" / "ca.crt.pem").read_text(),
            "token": image_token(secret, kind, image_id, sha256),
        }


def _wait_for_port(port):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture
def core(tmp_path):
    process = ImageCore(tmp_path)
    process.start()
    yield process
    if process.process.poll() is None:
        process.stop()


def qcow2_file(directory: Path) -> bytes:
    path = directory / "disk.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path), "256M"],
        check=True,
    )
    subprocess.run(
        ["qemu-io", "-c", "write -P 0x5a 1M 3M", str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_bytes()


def iso_file() -> bytes:
    pycdlib = pytest.importorskip("pycdlib")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, vol_ident="NANOTEST")
    data = b"rescue marker\n" * 1000
    iso.add_fp(io.BytesIO(data), len(data), "/MARKER.TXT;1")
    output = io.BytesIO()
    iso.write_fp(output)
    iso.close()
    return output.getvalue()


def form(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "nano-process-test"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{field}"; filename="{filename}"\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def https_get(core, reference, token=None, method="GET"):
    """GET an image from the image service, trusting only the CA."""
    context = ssl.create_default_context(cadata=reference["ca_certificate"])
    connection = http.client.HTTPSConnection(
        "127.0.0.1", core.image_port, timeout=30, context=context
    )
    path = f"/images/{reference['kind']}/{reference['id']}"
    token = reference["token"] if token is None else token
    connection.request(
        method, path, headers={"authorization": f"Nano-Image {token}"}
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def fetch_with_nano_tls(reference, destination: Path) -> subprocess.Popen:
    """Download with nano.tls.fetch_image in a child process."""
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from twisted.internet.task import react
        from nano.tls import fetch_image

        def main(reactor):
            reference = json.loads(sys.argv[1])
            return fetch_image(reactor, "127.0.0.1", reference,
                               Path(sys.argv[2]))

        react(main)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script, json.dumps(reference), destination],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_upload_and_download_over_https(core, tmp_path):
    """
    A qcow2 and an ISO uploaded through the API come back unchanged
    from the HTTPS image service.
    """
    qcow2 = qcow2_file(tmp_path)
    iso = iso_file()
    owner = {"owner": "admin", "group": "ops"}
    _, disk = core.call("POST", "/api/v1/disk_images/", {"name": "d", **owner})
    disk_id = disk["data"]["id"]
    _, media = core.call(
        "POST", "/api/v1/media_images/", {"name": "m", **owner}
    )
    media_id = media["data"]["id"]

    status, reply = core.upload(
        "disk", disk_id, qcow2, "application/octet-stream"
    )
    assert (status, reply["error_code"]) == (200, 0), reply
    status, reply = core.upload(
        "media", media_id, *form("image", "r.iso", iso)
    )
    assert (status, reply["error_code"]) == (200, 0), reply

    _, got = core.call("GET", f"/api/v1/disk_images/{disk_id}")
    assert got["data"]["virtual_size"] == 256 * 1024**2
    assert got["data"]["sha256"] == hashlib.sha256(qcow2).hexdigest()

    for kind, image_id, data in [
        ("disk", disk_id, qcow2),
        ("media", media_id, iso),
    ]:
        reference = core.reference(kind, image_id)
        response, body = https_get(core, reference)
        assert response.status == 200
        assert response.getheader("content-length") == str(len(data))
        assert hashlib.sha256(body).hexdigest() == reference["sha256"]

        fetched = fetch_with_nano_tls(reference, tmp_path / f"{kind}.img")
        if "cannot import name 'fetch_image'" in fetched.stderr:
            continue
        assert fetched.returncode == 0, fetched.stderr
        copy = (tmp_path / f"{kind}.img").read_bytes()
        assert hashlib.sha256(copy).hexdigest() == reference["sha256"]


def test_image_service_checks_tokens(core, tmp_path):
    """A download without the image's token gets a 401."""
    _, disk = core.call(
        "POST",
        "/api/v1/disk_images/",
        {"name": "d", "owner": "a", "group": "g"},
    )
    disk_id = disk["data"]["id"]
    core.upload("disk", disk_id, qcow2_file(tmp_path), "application/x")
    reference = core.reference("disk", disk_id)
    response, body = https_get(core, reference, token="0" * 64)
    assert response.status == 401
    assert b"image token" in body
    response, _ = https_get(core, reference, method="HEAD")
    assert response.status == 200
    assert response.getheader("content-length") == str(reference["size"])


def test_api_download_streams_the_file(core, tmp_path):
    """GET .../file/ on the API returns the uploaded file."""
    qcow2 = qcow2_file(tmp_path)
    _, disk = core.call(
        "POST",
        "/api/v1/disk_images/",
        {"name": "d", "owner": "a", "group": "g"},
    )
    disk_id = disk["data"]["id"]
    core.upload("disk", disk_id, qcow2, "application/octet-stream")
    path = f"/api/v1/disk_images/{disk_id}/file/"
    headers = {"host": f"127.0.0.1:{core.port}"}
    api_id, api_key = core.credential()
    headers.update(
        sign(
            Request("GET", path, "", headers, b""),
            api_id,
            api_key,
            datetime.now(UTC),
        )
    )
    connection = http.client.HTTPConnection("127.0.0.1", core.port, 30)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("content-length") == str(len(qcow2))
    assert response.read() == qcow2


def test_client_disconnects_mid_body(core, tmp_path):
    """An upload cut off mid-body leaves no file and no record."""
    qcow2 = qcow2_file(tmp_path)
    _, disk = core.call(
        "POST",
        "/api/v1/disk_images/",
        {"name": "d", "owner": "a", "group": "g"},
    )
    disk_id = disk["data"]["id"]
    path = f"/api/v1/disk_images/{disk_id}/file/"
    headers = {"host": f"127.0.0.1:{core.port}"}
    api_id, api_key = core.credential()
    headers.update(
        sign(
            Request("POST", path, "", headers, b""),
            api_id,
            api_key,
            datetime.now(UTC),
            streamed=True,
        )
    )
    headers["content-length"] = str(len(qcow2))
    head = f"POST {path} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    with socket.create_connection(("127.0.0.1", core.port), 5) as client:
        client.sendall(head.encode() + b"\r\n" + qcow2[: len(qcow2) // 2])
        time.sleep(0.3)
        _, during = core.call("GET", f"/api/v1/disk_images/{disk_id}")
        assert during["data"]["uploaded"] > 0
    time.sleep(0.3)

    _, after = core.call("GET", f"/api/v1/disk_images/{disk_id}")
    assert after["data"]["created"] is False
    assert "uploaded" not in after["data"]
    assert list((tmp_path / "data" / "images" / "disk").iterdir()) == []
    assert "cut short" in core.log()
