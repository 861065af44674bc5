"""
``twistd nano-core`` and ``twistd nano-cell`` as processes on loopback,
with a signed REST client for Core.
"""

import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from nano.config import write_atomic
from nano.signing import Request, sign
from nano.testing.processes import TWISTD, free_port, wait_until

SECRET = "5e" * 32
#: Fabric settings of both processes: fast timers, so that a lost
#: process is noticed within seconds.
FABRIC = {
    "secret": SECRET,
    "interface": "127.0.0.1",
    "heartbeat_interval": 0.3,
    "lost_after": 1.0,
    "disconnect_after": 1.5,
    "request_timeout": 3.0,
}


class Process:
    """A ``twistd`` process whose output goes to a log file."""

    def __init__(self, log_path: Path, arguments):
        self.log_path = log_path
        self.arguments = [str(TWISTD), "-n", "--pidfile=", *arguments]
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.arguments, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self, signal_number=signal.SIGKILL):
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal_number)
            self.process.wait(15)

    def log(self) -> str:
        return self.log_path.read_text()


class Core(Process):
    """nano-core on loopback, with fast fabric timers."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.image_port = free_port()
        self.fabric_port = free_port(socket.SOCK_DGRAM)
        config = root / "core-config"
        config.mkdir()
        write_atomic(
            config / "domain.cfg",
            {**FABRIC, "listen_port": self.fabric_port},
            mode=0o600,
        )
        super().__init__(
            root / "core.log",
            [
                "nano-core",
                "--config",
                str(config),
                "--data",
                str(root / "core-data"),
                "--api-port",
                str(self.port),
                "--api-interface",
                "127.0.0.1",
                "--interface",
                "127.0.0.1",
                "--image-port",
                str(self.image_port),
                "--image-interface",
                "127.0.0.1",
                # Tests run guests on the 2 cores the Cell reports, so a
                # booting guest must not keep the next one out.
                "--max-cpu-load",
                "100",
            ],
        )

    def start(self):
        super().start()
        wait_until(self._listening, 20, f"Core to listen:\n{self.log()}")

    def _listening(self):
        assert self.process.poll() is None, self.log()
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
        except OSError:
            return False
        return True

    def call(self, method, path, body=None):
        """Send a signed request; return (HTTP status, envelope)."""
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"host": f"127.0.0.1:{self.port}"}
        if data:
            headers["content-type"] = "application/json"
        path_only, _, query = path.partition("?")
        request = Request(method, path_only, query, headers, data)
        headers.update(self._signature(request))
        return self._send(method, path, headers, data)

    def upload(self, path, file_path: Path):
        """
        POST a file as a raw body, signed as a streamed upload (as if its
        body were empty); return (HTTP status, envelope).
        """
        headers = {
            "host": f"127.0.0.1:{self.port}",
            "content-type": "application/octet-stream",
        }
        request = Request("POST", path, "", headers, b"")
        headers.update(self._signature(request, streamed=True))
        return self._send("POST", path, headers, file_path.read_bytes())

    def _signature(self, request, streamed=False):
        config = json.loads(
            (self.root / "core-config" / "api.cfg").read_text()
        )
        entry = config["credentials"][0]
        now = datetime.now(UTC)
        return sign(request, entry["id"], entry["key"], now, streamed)

    def _send(self, method, path, headers, data):
        http = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data or None,
            headers=headers,
            method=method,
        )
        try:
            with urllib.request.urlopen(http, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def data(self, method, path, body=None, status=200):
        """Send a signed request, check its status, return its data."""
        code, envelope = self.call(method, path, body)
        assert code == status, envelope
        return envelope["data"]


class Cell(Process):
    """nano-cell on a libvirt URI, with volumes in its own directory."""

    def __init__(self, root: Path, name: str, uri: str, core: Core):
        self.volumes = root / "volumes"
        self.volumes.mkdir()
        config = root / "cell-config"
        config.mkdir()
        write_atomic(
            config / "domain.cfg",
            FABRIC,
            mode=0o600,
        )
        write_atomic(
            config / "cell.cfg",
            {
                "libvirt_uri": uri,
                "domain_type": "qemu",
                "storage_directory": str(self.volumes),
            },
            mode=0o600,
        )
        super().__init__(
            root / "cell.log",
            [
                "nano-cell",
                "--config",
                str(config),
                "--data",
                str(root / "cell-data"),
                "--name",
                name,
                "--core",
                f"127.0.0.1:{core.fabric_port}",
            ],
        )
