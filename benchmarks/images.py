"""
Benchmark image transfers on one machine: the upload of a qcow2 image
through Core's REST route, and its download by ``fetch_image`` from
Core's HTTPS image service, each beside a ceiling measured the same way.

Usage: ``.venv/bin/python benchmarks/images.py [--size MIB]
[--rounds N] [--json FILE] [--directory DIR]``

The image (1 GiB by default) is made of random bytes converted to qcow2,
so that it is neither sparse nor compressible, in a new directory under
``/var/tmp`` that is removed at the end. Core runs as ``twistd
nano-core`` with every port on 127.0.0.1. Each round measures:

- **upload, Core**: ``curl -T`` sends the file as a raw body to ``POST
  /api/v1/disk_images/<id>/file/``, signed as a streamed upload. The
  time runs until Core replies, which it does after it has written,
  synced, hashed and checked the file (``qemu-img check``).
- **upload ceiling**: ``dd conv=fdatasync`` copies the same file, which
  is only the disk write that an upload needs.
- **download, fetch_image**: a child process runs
  :func:`nano.tls.fetch_image` against Core's image service, with the
  image reference that Core would send to a Cell.
- **download, Core to curl**: ``curl --cacert`` from Core's image
  service, then ``sync --data`` of the file.
- **download ceiling**: ``curl --cacert`` from ``openssl s_server
  -WWW`` serving the same file with a certificate from the same CA,
  then ``sync --data``.

Every download ends with the file's data on disk (``fetch_image``
fdatasyncs it), so the three are compared on the same terms. The source
file was written just before, so its reads come from the page cache
where RAM allows. CPU seconds are the user plus system time of the
client and of the server process during the transfer.
"""

import argparse
import functools
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from nano.config import write_atomic
from nano.signing import Request, sign
from nano.testing.processes import TWISTD, free_port
from nano.tls import ClusterCA, image_token

HOST = "127.0.0.1"
MIB = 1024 * 1024
SECRET = os.urandom(32).hex()


def wait_for_port(port: int, process, log: Path, timeout=30.0) -> None:
    """Wait until ``port`` accepts connections, or fail with ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            socket.create_connection((HOST, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"timed out waiting for port {port}:\n{log.read_text()}")


def stop(process) -> None:
    """Stop a child process by its PID and wait for it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """Return the CPU seconds of this process's waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the image -----------------------------------------------------------


def make_image(directory: Path, size: int) -> Path:
    """Write ``size`` bytes of random data as a qcow2 image; return it."""
    raw = directory / "source.raw"
    with open(raw, "wb") as file:
        for _ in range(size // MIB):
            file.write(os.urandom(MIB))
    image = directory / "image.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, image],
        check=True,
    )
    raw.unlink()
    return image


@functools.cache
def image_sha256(path: Path) -> str:
    """Return the hex SHA-256 of the benchmark's image, computed once."""
    return sha256_of(path)


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


# --- Core ----------------------------------------------------------------


class Core:
    """``twistd nano-core`` on 127.0.0.1, with a signed REST client."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "core-config"
        self.port = free_port()
        self.image_port = free_port()
        self.log = root / "core.log"
        self.config.mkdir()
        write_atomic(
            self.config / "domain.cfg",
            {"secret": SECRET, "interface": HOST},
            mode=0o600,
        )
        self.process = None

    def start(self) -> None:
        """Start Core and wait until its API listens."""
        arguments = [
            str(TWISTD),
            "-n",
            "--pidfile=",
            "nano-core",
            *("--config", str(self.config)),
            *("--data", str(self.root / "core-data")),
            *("--api-port", str(self.port), "--api-interface", HOST),
            *("--interface", HOST),
            *("--image-port", str(self.image_port)),
            *("--image-interface", HOST),
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                arguments, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, self.process, self.log)
        wait_for_port(self.image_port, self.process, self.log)

    def signed_headers(self, method, path, body, content_type, streamed):
        """Return the headers of a signed request."""
        entry = json.loads((self.config / "api.cfg").read_text())
        credential = entry["credentials"][0]
        headers = {"host": f"{HOST}:{self.port}"}
        if content_type:
            headers["content-type"] = content_type
        request = Request(method, path, "", headers, body)
        now = datetime.now(UTC)
        headers.update(
            sign(request, credential["id"], credential["key"], now, streamed)
        )
        return headers

    def call(self, method: str, path: str, body=None) -> dict:
        """Send a signed JSON request; return the envelope's data."""
        data = b"" if body is None else json.dumps(body).encode()
        content_type = "application/json" if data else None
        headers = self.signed_headers(method, path, data, content_type, False)
        arguments = ["curl", "-sS", "-X", method, f"{self.url}{path}"]
        for name, value in headers.items():
            arguments += ["-H", f"{name}: {value}"]
        if data:
            arguments += ["--data-binary", "@-"]
        result = subprocess.run(
            arguments, input=data, capture_output=True, check=True
        )
        envelope = json.loads(result.stdout)
        if envelope.get("error_code"):
            raise SystemExit(f"{method} {path} failed: {envelope}")
        return envelope["data"]

    @property
    def url(self) -> str:
        """The base URL of Core's API."""
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        """Stop Core by its PID."""
        if self.process is not None:
            stop(self.process)


# --- measurements ----------------------------------------------------------


def measure(command, server_pid, size, stdin=None):
    """Run ``command`` (a list of argument lists, run in turn) and return
    seconds, MB/s and CPU seconds of client and server."""
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    client_before = children_cpu()
    start = time.perf_counter()
    for arguments in command:
        result = subprocess.run(arguments, stdin=stdin, capture_output=True)
        if result.returncode != 0:
            raise SystemExit(
                f"{arguments[0]} failed: {result.stdout!r} {result.stderr!r}"
            )
    seconds = time.perf_counter() - start
    server_after = cpu_seconds(server_pid) if server_pid else 0.0
    return {
        "seconds": seconds,
        "mb_per_s": size / seconds / 1e6,
        "client_cpu": children_cpu() - client_before,
        "server_cpu": server_after - server_before,
    }


def upload_core(core: Core, image: Path, index: int):
    """Create a disk image record, upload ``image`` to it with curl, and
    return the measurement and the image id."""
    created = core.call(
        "POST",
        "/api/v1/disk_images/",
        {"name": f"benchmark-{index}", "owner": "admin", "group": "admin"},
    )
    image_id = created["id"]
    path = f"/api/v1/disk_images/{image_id}/file/"
    headers = core.signed_headers(
        "POST", path, b"", "application/octet-stream", True
    )
    size = image.stat().st_size
    # "-T -" reads the file from standard input, because with "-T FILE"
    # curl appends the file's name to a URL that ends with a slash. The
    # Content-Length header, and no Transfer-Encoding, keep curl from
    # sending it chunked.
    arguments = ["curl", "-sS", "--fail-with-body", "-X", "POST", "-T", "-"]
    arguments += ["-H", "Expect:", "-H", "Transfer-Encoding:"]
    arguments += ["-H", f"Content-Length: {size}"]
    for name, value in headers.items():
        arguments += ["-H", f"{name}: {value}"]
    arguments.append(f"{core.url}{path}")
    with open(image, "rb") as source:
        result = measure([arguments], core.process.pid, size, source)
    stored = core.call("GET", f"/api/v1/disk_images/{image_id}")
    if stored.get("sha256") != image_sha256(image):
        raise SystemExit(f"upload {image_id} stored other data: {stored}")
    return result, image_id


def upload_ceiling(image: Path, target: Path):
    """Copy ``image`` with ``dd conv=fdatasync``: the disk write alone."""
    arguments = [
        "dd",
        f"if={image}",
        f"of={target}",
        "bs=1M",
        "conv=fdatasync",
        "status=none",
    ]
    result = measure([arguments], None, image.stat().st_size)
    target.unlink()
    return result


def download_fetch_image(core, reference, target: Path, size: int):
    """
    Run ``fetch_image`` in a child process and return its measurement.

    The time and client CPU are the child's own, from the request to the
    renamed file, leaving out the interpreter's start.
    """
    arguments = [
        sys.executable,
        __file__,
        "--fetch",
        json.dumps(reference),
        str(target),
    ]
    server_before = cpu_seconds(core.process.pid)
    result = subprocess.run(arguments, capture_output=True, check=True)
    server_cpu = cpu_seconds(core.process.pid) - server_before
    child = json.loads(result.stdout)
    check_download(target, reference["sha256"])
    return {
        "seconds": child["seconds"],
        "mb_per_s": size / child["seconds"] / 1e6,
        "client_cpu": child["cpu"],
        "server_cpu": server_cpu,
    }


def download_curl(url, headers, ca: Path, target, server_pid, size, sha):
    """Download ``url`` with curl and sync the file to disk."""
    arguments = ["curl", "-sS", "--fail", "--cacert", str(ca)]
    for header in headers:
        arguments += ["-H", header]
    arguments += ["-o", str(target), url]
    sync = ["sync", "--data", str(target)]
    result = measure([arguments, sync], server_pid, size)
    check_download(target, sha)
    return result


def check_download(target: Path, sha256: str) -> None:
    """Check a downloaded file against its SHA-256, then remove it."""
    if sha256_of(target) != sha256:
        raise SystemExit(f"{target}: the downloaded data differs")
    target.unlink()


def start_s_server(directory: Path, ca: ClusterCA, image: Path):
    """Serve ``image`` with ``openssl s_server -WWW``; return (process,
    port)."""
    directory.mkdir()
    certificate, key = ca.issue_server([], [HOST])
    (directory / "server.crt").write_bytes(certificate)
    (directory / "server.key").write_bytes(key)
    os.chmod(directory / "server.key", 0o600)
    port = free_port()
    log = directory / "s_server.log"
    arguments = [
        "openssl",
        "s_server",
        "-WWW",
        "-quiet",
        *("-accept", f"{HOST}:{port}"),
        *("-cert", "server.crt", "-key", "server.key"),
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            arguments,
            cwd=directory,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    wait_for_port(port, process, log)
    os.link(image, directory / image.name)
    return process, port


# --- the child that runs fetch_image -----------------------------------------


def fetch(reference: dict, target: Path) -> None:
    """Download with ``fetch_image``; print its seconds and CPU seconds
    as JSON, or exit non-zero on failure."""
    from twisted.internet.task import react

    from nano.tls import fetch_image

    def main(reactor):
        start = time.perf_counter(), time.process_time()
        fetched = fetch_image(reactor, HOST, reference, target)
        fetched.addCallback(lambda _: report_child(start))
        return fetched

    react(main)


def report_child(start) -> None:
    """Print the wall and CPU seconds since ``start``."""
    wall, cpu = start
    measured = {
        "seconds": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
    }
    print(json.dumps(measured))


# --- the run -----------------------------------------------------------------


def run(arguments) -> dict:
    """Make the image, start Core and the ceiling server, and measure."""
    workdir = Path(
        tempfile.mkdtemp(prefix="nano-images-", dir=arguments.directory)
    )
    core = Core(workdir)
    s_server = None
    try:
        image = make_image(workdir, arguments.size * MIB)
        core.start()
        ca = ClusterCA.load_or_create(core.config / "cert")
        s_server, s_port = start_s_server(workdir / "s_server", ca, image)
        results = {name: [] for name in SCENARIOS}
        image_id = None
        for index in range(arguments.rounds):
            measured, new_id = measure_round(
                core, image, index, s_server, s_port
            )
            if image_id is not None:
                core.call("DELETE", f"/api/v1/disk_images/{image_id}")
            image_id = new_id
            for name, result in zip(SCENARIOS, measured, strict=True):
                results[name].append(result)
        return {"size": image.stat().st_size, "results": results}
    finally:
        if s_server is not None:
            stop(s_server)
        core.stop()
        shutil.rmtree(workdir)


def measure_round(core: Core, image: Path, index, s_server, s_port: int):
    """Measure each scenario once; return the results in the order of
    :data:`SCENARIOS` and the id of the uploaded image."""
    sha = image_sha256(image)
    size = image.stat().st_size
    ca_file = core.config / "cert" / "ca.crt.pem"
    target = image.parent / "download"
    uploaded, image_id = upload_core(core, image, index)
    copied = upload_ceiling(image, image.parent / "copy")
    reference = {
        "id": image_id,
        "kind": "disk",
        "sha256": sha,
        "size": size,
        "port": core.image_port,
        "ca_certificate": ca_file.read_text(),
        "token": image_token(bytes.fromhex(SECRET), "disk", image_id, sha),
    }
    fetched = download_fetch_image(core, reference, target, size)
    from_core = download_curl(
        f"https://{HOST}:{core.image_port}/images/disk/{image_id}",
        [f"Authorization: Nano-Image {reference['token']}"],
        ca_file,
        target,
        core.process.pid,
        size,
        sha,
    )
    ceiling = download_curl(
        f"https://{HOST}:{s_port}/{image.name}",
        [],
        ca_file,
        target,
        s_server.pid,
        size,
        sha,
    )
    return (uploaded, copied, fetched, from_core, ceiling), image_id


SCENARIOS = (
    "upload, Core REST route (curl -T)",
    "upload ceiling (dd conv=fdatasync)",
    "download, fetch_image from Core",
    "download, curl from Core",
    "download ceiling, curl from openssl s_server",
)


def report(measured: dict, arguments) -> None:
    """Print the best and median round of each scenario."""
    print(
        f"image: {measured['size']} bytes qcow2 of random data, "
        f"{arguments.rounds} rounds; {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"{'scenario':46} {'best MB/s':>9} {'median':>7} "
        f"{'client CPU s':>12} {'server CPU s':>12}"
    )
    for name, rounds in measured["results"].items():
        rates = sorted(result["mb_per_s"] for result in rounds)
        median = rates[len(rates) // 2]
        best = max(rounds, key=lambda result: result["mb_per_s"])
        print(
            f"{name:46} {rates[-1]:9.0f} {median:7.0f} "
            f"{best['client_cpu']:12.2f} {best['server_cpu']:12.2f}"
        )


def main() -> None:
    """Parse the command line and run the benchmark or the fetch child."""
    if sys.argv[1:2] == ["--fetch"]:
        fetch(json.loads(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", type=int, default=1024, help="image size in MiB"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of each scenario"
    )
    parser.add_argument("--json", help="also write the results to FILE")
    parser.add_argument(
        "--directory",
        default="/var/tmp",
        help="where the temporary directory goes (default /var/tmp)",
    )
    arguments = parser.parse_args()
    measured = run(arguments)
    report(measured, arguments)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(measured, indent=2))


if __name__ == "__main__":
    main()
