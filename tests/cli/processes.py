"""
``twistd nano-core`` and ``twistd nano-cell`` (on libvirt's test driver)
as processes on loopback, for the ``nano`` client's tests.
"""

import json
import signal
import socket
import subprocess
from pathlib import Path

from nano.config import write_atomic
from nano.testing.processes import TWISTD, free_port, wait_until

CELL = "Cell_cli"
TEST_DRIVER = "test:///default"
#: Fabric settings of both processes: loopback and fast timers.
FABRIC = {
    "secret": "c1" * 32,
    "interface": "127.0.0.1",
    "heartbeat_interval": 0.3,
    "lost_after": 1.0,
    "disconnect_after": 1.5,
    "request_timeout": 3.0,
}


class Twistd:
    """A ``twistd -n`` process whose output goes to ``log_path``."""

    def __init__(self, log_path: Path, arguments):
        self.log_path = log_path
        self.arguments = [str(TWISTD), "-n", "--pidfile=", *arguments]
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.arguments, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Core(Twistd):
    """nano-core on loopback; its api.cfg is ``config / "api.cfg"``."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.fabric_port = free_port(socket.SOCK_DGRAM)
        self.config = root / "core-config"
        self.config.mkdir()
        write_atomic(
            self.config / "domain.cfg",
            {**FABRIC, "listen_port": self.fabric_port},
            mode=0o600,
        )
        arguments = ["nano-core", "--config", str(self.config)]
        arguments += ["--data", str(root / "core-data")]
        arguments += ["--api-port", str(self.port)]
        arguments += [
            "--api-interface",
            "127.0.0.1",
            "--interface",
            "127.0.0.1",
            "--image-port",
            "0",
            "--image-interface",
            "127.0.0.1",
        ]
        super().__init__(root / "core.log", arguments)

    @property
    def api_cfg(self) -> Path:
        """Core's api.cfg, written on its first start."""
        return self.config / "api.cfg"

    def credentials(self) -> dict:
        """Return Core's first API credential."""
        return json.loads(self.api_cfg.read_text())["credentials"][0]

    def start(self):
        super().start()
        wait_until(self._listening, 20, "Core to listen")

    def _listening(self):
        assert self.process.poll() is None, self.log()
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
        except OSError:
            return False
        return True


class Cell(Twistd):
    """nano-cell on libvirt ``uri``, with Core's fabric address."""

    def __init__(self, root: Path, core: Core, uri: str = TEST_DRIVER):
        self.uri = uri
        config = root / "cell-config"
        config.mkdir()
        write_atomic(config / "domain.cfg", FABRIC, mode=0o600)
        arguments = ["nano-cell", "--config", str(config)]
        arguments += ["--data", str(root / "cell-data"), "--name", CELL]
        arguments += ["--libvirt-uri", uri]
        arguments += ["--domain-type", "qemu"]
        arguments += ["--core", f"127.0.0.1:{core.fabric_port}"]
        super().__init__(root / "cell.log", arguments)
