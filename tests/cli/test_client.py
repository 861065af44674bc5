"""
The ``nano`` client's HTTP layer against small loopback servers: signed
requests, streamed uploads, and errors that name the address tried.
"""

import hashlib
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nano.cli._client import ApiClient, ApiError, CliError
from nano.cli._settings import ApiSettings
from nano.signing import Request, verify

from .processes import free_port

pytestmark = pytest.mark.slow
CREDENTIALS = {"nano-test": "test-key"}


class RecordingHandler(BaseHTTPRequestHandler):
    """Verify each request's signature, hash its body, reply an envelope."""

    def _serve(self):
        length = int(self.headers.get("content-length", 0))
        digest, received = hashlib.sha256(), 0
        while received < length:
            block = self.rfile.read(min(65536, length - received))
            digest.update(block)
            received += len(block)
        self.server.requests.append((self.command, self.path, self.headers))
        self.server.bodies.append((received, digest.hexdigest()))
        self._reply(*self.server.reply(self))

    do_GET = do_POST = do_DELETE = _serve

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments):
        pass


def envelope(data, error_code=0, message=""):
    body = {"error_code": error_code, "message": message, "data": data}
    return json.dumps(body).encode()


def check_signature(handler, body=b""):
    """Return the API id whose signature the request carries."""
    path, _, query = handler.path.partition("?")
    headers = {name.lower(): value for name, value in handler.headers.items()}
    request = Request(handler.command, path, query, headers, body)
    return verify(request, CREDENTIALS, datetime.now(UTC))


@pytest.fixture
def server():
    """A loopback HTTP server; set ``server.reply`` to choose replies."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    httpd.requests, httpd.bodies = [], []
    httpd.reply = lambda handler: (
        200,
        envelope({"id": check_signature(handler)}),
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def client_for(port):
    return ApiClient(ApiSettings("127.0.0.1", port, "nano-test", "test-key"))


def test_query_signed(server):
    """A query is sent, signed, and left out when its values are None."""
    client = client_for(server.server_port)
    data = client.call(
        "GET", "/guest_search/", query={"pool": "p", "cell": None}
    )
    assert data == {"id": "nano-test"}
    assert server.requests[0][1] == "/api/v1/guest_search/?pool=p"


def test_upload_streams_file(server, tmp_path):
    """An upload sends the whole file, signed as a streamed body."""
    content = bytes(range(256)) * 12289  # three blocks and a bit
    path = tmp_path / "image.qcow2"
    path.write_bytes(content)
    client = client_for(server.server_port)
    with open(path, "rb") as stream:
        data = client.upload("/disk_images/abc/file/", stream, len(content))
    assert data == {"id": "nano-test"}
    method, target, headers = server.requests[0]
    assert (method, target) == ("POST", "/api/v1/disk_images/abc/file/")
    assert headers["content-type"] == "application/octet-stream"
    expected = (len(content), hashlib.sha256(content).hexdigest())
    assert server.bodies[0] == expected


def test_api_error_message_kept(server):
    """Core's error message becomes the client's error, with the status."""
    server.reply = lambda handler: (
        409,
        envelope({}, 409, "compute pool 'p' exists"),
    )
    with pytest.raises(ApiError) as raised:
        client_for(server.server_port).call("POST", "/compute_pools/p", {})
    assert raised.value.status == 409
    assert str(raised.value) == "compute pool 'p' exists"


def test_reply_without_envelope(server):
    """A server that is not Core is named, with what it replied."""
    server.reply = lambda handler: (200, b"<html>hello</html>")
    with pytest.raises(CliError) as raised:
        client_for(server.server_port).call("GET", "/compute_pools/")
    message = str(raised.value)
    assert f"127.0.0.1:{server.server_port}" in message
    assert "not a Nano API envelope" in message
    assert "<html>" in message


def test_connection_refused_names_address():
    """With nothing listening, the error names the address and the fix."""
    port = free_port()
    with pytest.raises(CliError) as raised:
        client_for(port).call("GET", "/compute_pools/")
    message = str(raised.value)
    assert f"http://127.0.0.1:{port}" in message
    assert "connection refused" in message
    assert "NANO_API" in message
