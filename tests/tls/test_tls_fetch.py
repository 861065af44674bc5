"""
fetch_image against a real HTTPS server on 127.0.0.1: checks of the
server's certificate, of the data, and of the partial file.
"""

import gc
import hashlib
import os
import re
import tracemalloc

import pytest
import pytest_twisted
from image_server import ImageServer, random_file
from twisted.internet import reactor
from twisted.internet.defer import CancelledError, Deferred

from nano.tls import ClusterCA, ImageFetchError, fetch_image

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    """An image server with a certificate for 127.0.0.1."""
    server = ImageServer(tmp_path / "server")
    yield server
    server.stop()


@pytest.fixture
def image(tmp_path):
    """A 1 MiB file of random bytes."""
    return random_file(tmp_path / "image.qcow2", 1024 * 1024)


def url(server, image_id="img-1", kind="disk"):
    """Return the download URL of an image on ``server``."""
    return f"https://127.0.0.1:{server.port}/images/{kind}/{image_id}"


def leftovers(tmp_path):
    """Return the names in the download directory ``tmp_path/store``."""
    return sorted(path.name for path in (tmp_path / "store").iterdir())


@pytest.fixture
def store(tmp_path):
    """The download directory."""
    (tmp_path / "store").mkdir()
    return tmp_path / "store"


@pytest_twisted.inlineCallbacks
def test_fetch_stores_image(server, image, store, tmp_path):
    """The image arrives whole under its destination name, with progress
    reported up to its size and no partial file left."""
    reference = server.reference("disk", "img-1", image)
    calls = []

    path = yield fetch_image(
        reactor,
        "127.0.0.1",
        reference,
        store / "img-1",
        progress=lambda received, total: calls.append((received, total)),
    )

    assert path == store / "img-1"
    assert path.read_bytes() == image.read_bytes()
    assert leftovers(tmp_path) == ["img-1"]
    assert calls[-1] == (1024 * 1024, 1024 * 1024)
    received = [received for received, _ in calls]
    assert received == sorted(received)


@pytest_twisted.inlineCallbacks
def test_fetch_media_by_dns_name(tmp_path, image, store):
    """A certificate naming localhost serves a download from localhost."""
    server = ImageServer(tmp_path / "server", names=["localhost"])
    reference = server.reference("media", "iso-1", image)
    try:
        path = yield fetch_image(
            reactor, "localhost", reference, store / "iso-1"
        )
    finally:
        yield server.stop()
    assert path.read_bytes() == image.read_bytes()


@pytest_twisted.inlineCallbacks
def test_fetch_chunked_response(server, image, store):
    """A body without Content-Length is accepted when size and checksum
    match."""
    server.resource.mode = "chunked"
    reference = server.reference("disk", "img-1", image)
    path = yield fetch_image(reactor, "127.0.0.1", reference, store / "i")
    assert path.read_bytes() == image.read_bytes()


@pytest_twisted.inlineCallbacks
def test_fetch_replaces_stale_partial(server, image, store):
    """A partial file left by an earlier crash is overwritten."""
    (store / "img-1.partial").write_bytes(b"x" * 3 * 1024 * 1024)
    reference = server.reference("disk", "img-1", image)
    path = yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    assert path.read_bytes() == image.read_bytes()
    assert not (store / "img-1.partial").exists()


@pytest_twisted.inlineCallbacks
def test_fetch_other_ca_rejected(server, image, store, tmp_path):
    """A server whose certificate comes from another CA is rejected, and
    nothing is written."""
    other = ClusterCA.load_or_create(tmp_path / "other-ca")
    reference = server.reference(
        "disk",
        "img-1",
        image,
        ca_certificate=other.certificate_pem.decode(),
    )

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    assert str(caught.value) == (
        f"{url(server)}: TLS verification failed: the server's "
        "certificate is not signed by the CA in the image reference"
    )
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_other_host_rejected(tmp_path, image, store):
    """A certificate from the right CA naming another host is rejected."""
    server = ImageServer(
        tmp_path / "server", names=["core.lan"], addresses=["10.213.0.9"]
    )
    reference = server.reference("disk", "img-1", image)
    try:
        with pytest.raises(ImageFetchError) as caught:
            yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    finally:
        yield server.stop()
    message = str(caught.value)
    assert message.startswith(
        f"{url(server)}: TLS verification failed: the server's "
        "certificate does not name this host"
    )
    assert "127.0.0.1" in message
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_wrong_checksum(server, image, store, tmp_path):
    """Data whose SHA-256 differs from the reference is removed."""
    reference = server.reference("disk", "img-1", image, sha256="0" * 64)
    actual = hashlib.sha256(image.read_bytes()).hexdigest()

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    assert str(caught.value) == (
        f"{url(server)}: checksum mismatch: SHA-256 of the received data "
        f"is {actual}, the image reference's is {'0' * 64}"
    )
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_content_length_mismatch(server, image, store, tmp_path):
    """A Content-Length other than the reference's size is rejected
    before any data is written."""
    reference = server.reference("disk", "img-1", image, size=1000)

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    assert str(caught.value) == (
        f"{url(server)}: size mismatch: the server's Content-Length is "
        "1048576, the image reference's size is 1000"
    )
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_body_too_long(server, image, store, tmp_path):
    """A chunked body longer than the reference's size is cut off."""
    server.resource.mode = "chunked"
    reference = server.reference("disk", "img-1", image, size=1000)

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    assert str(caught.value) == (
        f"{url(server)}: the server sent more than the image reference's "
        "size of 1000 bytes"
    )
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_body_too_short(server, image, store, tmp_path):
    """A chunked body shorter than the reference's size is removed."""
    server.resource.mode = "chunked"
    size = 2 * 1024 * 1024
    reference = server.reference("disk", "img-1", image, size=size)

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    assert str(caught.value) == (
        f"{url(server)}: size mismatch: received 1048576 bytes, the image "
        f"reference's size is {size}"
    )
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_invalid_token(server, image, store, tmp_path):
    """A token the server rejects gives the status, the likely cause and
    the server's message."""
    reference = server.reference("disk", "img-1", image, token="0" * 64)

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    assert str(caught.value) == (
        f"{url(server)}: HTTP 401 Unauthorized: the image token was "
        "rejected, so check that this host's cluster secret matches Core's: "
        "invalid image token"
    )
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_unknown_image(server, image, store):
    """An image the server does not have gives HTTP 404."""
    reference = server.reference("disk", "img-1", image, id="img-2")

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, store / "img-2")
    assert str(caught.value) == (
        f"{url(server, 'img-2')}: HTTP 404 Not Found: no such image"
    )


@pytest_twisted.inlineCallbacks
def test_fetch_stalled_error_response(server, image, store):
    """An error response whose body stalls still fails after the idle
    time, with the status and the start of the body."""
    server.resource.mode = "broken"
    reference = server.reference("disk", "img-1", image)

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(
            reactor,
            "127.0.0.1",
            reference,
            store / "img-1",
            idle_timeout=0.5,
        )
    assert str(caught.value) == (
        f"{url(server)}: HTTP 500 Internal Server Error: disk full"
    )


@pytest_twisted.inlineCallbacks
def test_fetch_connection_refused(server, image, store):
    """A closed port gives a connection refused error."""
    reference = server.reference("disk", "img-1", image)
    yield server.stop()

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, store / "img-1")
    assert str(caught.value) == (
        f"{url(server)}: connection refused: is Core's image service running?"
    )


@pytest_twisted.inlineCallbacks
def test_fetch_stalled_body(server, image, store, tmp_path):
    """A transfer that stops sending data fails after the idle time."""
    server.resource.mode = "stall"
    reference = server.reference("disk", "img-1", image)

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(
            reactor,
            "127.0.0.1",
            reference,
            store / "img-1",
            idle_timeout=0.5,
        )
    assert str(caught.value) == (
        f"{url(server)}: timed out: no data for 0.5 s after 524288 of "
        "1048576 bytes"
    )
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_connection_cut(server, image, store, tmp_path):
    """A connection that closes mid-body fails, saying how much came."""
    server.resource.mode = "cut"
    reference = server.reference("disk", "img-1", image)

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(
            reactor,
            "127.0.0.1",
            reference,
            store / "img-1",
            idle_timeout=10,
        )
    message = str(caught.value)
    assert re.fullmatch(
        rf"{re.escape(url(server))}: the connection closed after "
        r"\d+ of 1048576 bytes",
        message,
    ), message
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_no_response(server, image, store, tmp_path):
    """A server that never responds fails the download after the idle
    time."""
    server.resource.mode = "silent"
    reference = server.reference("disk", "img-1", image)

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(
            reactor,
            "127.0.0.1",
            reference,
            store / "img-1",
            idle_timeout=0.5,
        )
    assert str(caught.value) == (
        f"{url(server)}: timed out: no response within 0.5 s"
    )
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_cancelled(server, image, store, tmp_path):
    """Cancelling a download mid-body removes the partial file."""
    server.resource.mode = "stall"
    reference = server.reference("disk", "img-1", image)
    halfway = Deferred()

    def progress(received, total):
        if not halfway.called:
            halfway.callback(None)

    def ended_early(result):
        if not halfway.called:
            halfway.errback(AssertionError(f"ended before data: {result}"))
        return result

    fetching = fetch_image(
        reactor, "127.0.0.1", reference, store / "img-1", progress=progress
    )
    fetching.addBoth(ended_early)
    yield halfway
    fetching.cancel()

    with pytest.raises(ImageFetchError) as caught:
        yield fetching
    assert str(caught.value) == f"{url(server)}: cancelled"
    assert isinstance(caught.value.__cause__, CancelledError)
    assert leftovers(tmp_path) == []


@pytest_twisted.inlineCallbacks
def test_fetch_progress_error_ignored(server, image, store):
    """A progress callback that raises does not stop the download."""
    reference = server.reference("disk", "img-1", image)

    def progress(received, total):
        raise RuntimeError("display gone")

    path = yield fetch_image(
        reactor, "127.0.0.1", reference, store / "img-1", progress=progress
    )
    assert path.read_bytes() == image.read_bytes()


@pytest_twisted.inlineCallbacks
def test_fetch_missing_directory(server, image, tmp_path):
    """A destination in a missing directory names the partial file."""
    reference = server.reference("disk", "img-1", image)
    destination = tmp_path / "missing" / "img-1"

    with pytest.raises(ImageFetchError) as caught:
        yield fetch_image(reactor, "127.0.0.1", reference, destination)
    assert str(caught.value) == (
        f"{url(server)}: cannot write {destination}.partial: "
        "No such file or directory"
    )


@pytest_twisted.inlineCallbacks
def test_fetch_streams_to_disk(server, store, tmp_path):
    """A 16 MiB download never keeps the whole file in memory: the peak of
    Python allocations (client and server) stays far below its size."""
    size = 16 * 1024 * 1024
    image = random_file(tmp_path / "big.qcow2", size)
    reference = server.reference("disk", "big", image)
    gc.collect()

    tracemalloc.start()
    try:
        path = yield fetch_image(reactor, "127.0.0.1", reference, store / "b")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert os.path.getsize(path) == size
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"
