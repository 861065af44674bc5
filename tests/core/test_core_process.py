"""
``twistd nano-core`` as a real process: signed requests over TCP, and the
same state after a restart.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nano.signing import Request, sign
from nano.testing.processes import TWISTD, free_port

pytestmark = pytest.mark.slow
START_TIMEOUT = 15.0


class Core:
    """One nano-core process on loopback, with its own directories."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.log_path = root / "core.log"
        self.process = None
        self.starts = 0

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(TWISTD),
                    "-n",
                    "--pidfile=",
                    "nano-core",
                    "--config",
                    str(self.root / "config"),
                    "--data",
                    str(self.root / "data"),
                    "--api-port",
                    str(self.port),
                    "--api-interface",
                    "127.0.0.1",
                    "--interface",
                    "127.0.0.1",
                    "--image-port",
                    "0",
                    "--image-interface",
                    "127.0.0.1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        self._wait_for_listening()

    def _wait_for_listening(self):
        # Core listens while twistd builds it, before twistd writes the
        # log lines it held until then: wait for both.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            if self._accepts() and self._logged_start():
                return
            time.sleep(0.05)
        raise AssertionError(f"Core did not listen:\n{self.log()}")

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
        except OSError:
            return False
        return True

    def _logged_start(self) -> bool:
        return self.log().count(") starting up.") >= self.starts

    def stop(self, signal_number=signal.SIGTERM):
        os.kill(self.process.pid, signal_number)
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text()

    def credential(self):
        config = json.loads((self.root / "config" / "api.cfg").read_text())
        entry = config["credentials"][0]
        return entry["id"], entry["key"]

    def call(self, method, path, body=None):
        """Send a signed request; return (HTTP status, envelope)."""
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"host": f"127.0.0.1:{self.port}"}
        if data:
            headers["content-type"] = "application/json"
        api_id, api_key = self.credential()
        headers.update(
            sign(
                Request(method, path, "", headers, data),
                api_id,
                api_key,
                datetime.now(UTC),
            )
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data or None,
            headers=headers,
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def core(tmp_path):
    process = Core(tmp_path)
    yield process
    if process.process and process.process.poll() is None:
        process.stop(signal.SIGKILL)


def test_restart_keeps_state(core):
    """Pools and templates survive a stop and start; the credential
    is logged on the first start only."""
    core.start()
    status, reply = core.call(
        "POST", "/api/v1/address_pools/net1", {"gateway": "10.213.7.1"}
    )
    assert (status, reply["error_code"]) == (200, 0), reply
    status, reply = core.call(
        "POST",
        "/api/v1/address_pools/net1/internal/ranges/10.213.7.10",
        {"end": "10.213.7.99", "netmask": "255.255.255.0"},
    )
    assert (status, reply["error_code"]) == (200, 0), reply
    status, reply = core.call(
        "POST", "/api/v1/compute_pools/alpha", {"network": "net1"}
    )
    assert (status, reply["error_code"]) == (200, 0), reply
    _, templates = core.call("GET", "/api/v1/templates/")
    assert len(templates["data"]) == 5
    core.stop()
    # twistd shuts down cleanly, then exits through the same signal.
    assert core.process.returncode == -signal.SIGTERM
    assert "Server Shut Down." in core.log()

    snapshots = list((core.root / "data" / "journal").glob("snapshot-*"))
    assert len(snapshots) == 1

    core.start()
    assert "(snapshot at 8, 0 events replayed)" in core.log()
    status, reply = core.call("GET", "/api/v1/compute_pools/")
    assert status == 200
    assert [pool["name"] for pool in reply["data"]] == ["alpha"]
    assert reply["data"][0]["network"] == "net1"
    _, address_pools = core.call("GET", "/api/v1/address_pools/")
    assert [pool["name"] for pool in address_pools["data"]] == ["net1"]
    assert address_pools["data"][0]["addresses"] == 90
    _, after = core.call("GET", "/api/v1/templates/")
    assert after["data"] == templates["data"]
    core.stop()

    _, api_key = core.credential()
    assert api_key not in core.log()
    assert str(core.root / "config" / "api.cfg") in core.log()


def test_killed_core_keeps_acknowledged_change(core):
    """A change acknowledged before SIGKILL is there after restart."""
    core.start()
    status, _ = core.call("POST", "/api/v1/compute_pools/beta")
    assert status == 200
    core.stop(signal.SIGKILL)

    core.start()
    status, reply = core.call("GET", "/api/v1/compute_pools/beta")
    assert status == 200, reply
    assert reply["data"]["name"] == "beta"


def test_unsigned_request_rejected(core):
    """Without a signature, the process returns 401 in the envelope."""
    core.start()
    request = urllib.request.Request(
        f"http://127.0.0.1:{core.port}/api/v1/compute_pools/"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 401
    reply = json.loads(raised.value.read())
    assert reply["error_code"] == 401
    assert "Nano-Authorization" in reply["message"]


def test_malformed_config_stops_start(tmp_path):
    """A malformed api.cfg exits non-zero with one clear line."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "api.cfg").write_text('{"port": "high"}')
    finished = subprocess.run(
        [
            str(TWISTD),
            "-n",
            "--pidfile=",
            "nano-core",
            "--config",
            str(config),
            "--data",
            str(tmp_path / "data"),
            "--api-port",
            "0",
            # Loopback, so that no multicast join leaves the machine if
            # the fabric ever starts before api.cfg is read.
            "--interface",
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode != 0
    assert "nano-core: cannot start" in finished.stderr
    assert "invalid port 'high'" in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout
