"""
Defects found by using the ``nano`` client as a new user would.

Each test shows one defect and is marked ``xfail(strict=True)``, so the
suite stays green until the defect is fixed, and then the mark must go.
The tests run the client in this process against a real ``nano-core``.
"""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from nano.cli import _images, cli
from nano.cli.quickstart import _main
from nano.cli.quickstart._processes import start_twistd, stop_pid
from nano.config import write_atomic

sys.path.insert(0, str(Path(__file__).parents[1]))

from cli.processes import FABRIC, Core, free_port, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    """A nano-core process on loopback, shared by this module."""
    process = Core(tmp_path_factory.mktemp("breakage-cli"))
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture
def nano(core):
    """Run ``nano ARGS...`` in this process against ``core``."""
    runner = CliRunner()
    environment = {
        "NANO_API": f"127.0.0.1:{core.port}",
        "NANO_CONFIG": str(core.api_cfg),
        "NANO_API_ID": None,
        "NANO_API_KEY": None,
    }

    def run(*arguments):
        return runner.invoke(cli, list(arguments), env=environment)

    return run


def qcow2(path: Path, size="64M") -> Path:
    """Write a preallocated qcow2 image, so that its file is ``size``."""
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "preallocation=full",
            str(path),
            size,
        ],
        check=True,
    )
    return path


class InterruptedFile(io.BytesIO):
    """
    A file that raises KeyboardInterrupt, as Ctrl-C does, once half of
    it is read. Core is paused for a moment first, so megabytes of the
    upload are still unread when the client gives up, as after a real
    Ctrl-C during a fast upload.
    """

    def __init__(self, data: bytes, core: Core):
        super().__init__(data)
        self.core = core

    def read(self, size=-1):
        if self.tell() >= len(self.getbuffer()) // 2:
            pid = self.core.process.pid
            os.kill(pid, signal.SIGSTOP)
            threading.Timer(0.3, os.kill, (pid, signal.SIGCONT)).start()
            raise KeyboardInterrupt
        return super().read(size)


def image_names(nano) -> list[str]:
    """Return the names of the disk images Core lists."""
    result = nano("--json", "image", "list")
    assert result.exit_code == 0, result.output
    return [image["name"] for image in json.loads(result.stdout)]


def test_interrupted_upload_leaves_no_record(
    core, nano, tmp_path, monkeypatch
):
    """
    Ctrl-C during ``nano image upload`` deletes the record the command
    created, as a rejected upload does.
    """
    path = qcow2(tmp_path / "big.qcow2")
    opened = InterruptedFile(path.read_bytes(), core)
    monkeypatch.setattr(
        _images, "open", lambda *arguments: opened, raising=False
    )

    result = nano("image", "upload", str(path), "--name", "interrupted")

    assert result.exit_code != 0
    assert "interrupted" not in image_names(nano)


#: Run in a private network namespace: give the quick start's bridge
#: helper a link that is not a bridge (a veth standing in for eth0),
#: then print whether it raised and the addresses the link ended with.
NOT_A_BRIDGE = """
import json, subprocess
from nano.cli.quickstart._network import ensure_bridge
from nano.cli.quickstart._report import QuickstartError
subprocess.run(
    ["ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "p0"],
    check=True,
)
try:
    ensure_bridge("uplink0", "10.213.105.1/24")
    error = None
except QuickstartError as raised:
    error = str(raised)
listing = subprocess.run(
    ["ip", "-j", "address", "show", "dev", "uplink0"],
    capture_output=True, text=True, check=True,
).stdout
addresses = [a["local"] for a in json.loads(listing)[0].get("addr_info", [])]
print(json.dumps({"error": error, "addresses": addresses}))
"""


def test_quickstart_bridge_must_be_bridge():
    """
    ``--bridge`` naming an existing link that is not a bridge, such as
    the uplink eth0, is rejected before the quick start adds its
    address there, because discovery multicast would then leave the
    host through that link.
    """
    probe = subprocess.run(["unshare", "-rn", "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("unshare -rn is not permitted here")

    done = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", NOT_A_BRIDGE],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)

    assert result["addresses"] == []
    assert result["error"] is not None
    assert "uplink0" in result["error"]


@pytest.mark.parametrize(
    "option", ["--api-port", "--image-port", "--group-port"]
)
def test_quickstart_port_out_of_range(option, tmp_path, monkeypatch):
    """
    A port above 65535 is a usage error naming the option, before the
    quick start starts libvirtd, creates a bridge or saves the value
    for later runs.
    """
    started = []
    monkeypatch.setattr(_main, "start", lambda *arguments: started.append(1))
    monkeypatch.setattr(_main, "stop", lambda *arguments: started.append(1))
    arguments = ["--state-dir", str(tmp_path / "qs"), option, "70000"]

    result = CliRunner().invoke(_main.main, arguments)

    assert started == []
    assert result.exit_code == 2, result.output
    assert option in result.output


@pytest.mark.root
def test_quickstart_stop_spares_stale_pid(tmp_path):
    """
    ``stop`` with a Core PID file left by a crash or a reboot, whose PID
    now belongs to an unrelated program, leaves that program running.
    """
    if os.geteuid() != 0:
        pytest.skip("the quick start needs root")
    state = tmp_path / "qs"
    (state / "run").mkdir(parents=True)
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        (state / "run" / "core.pid").write_text(f"{unrelated.pid}\n")

        CliRunner().invoke(_main.main, ["--state-dir", str(state), "stop"])

        assert unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait()


def start_core_daemon(root: Path) -> Path:
    """
    Start nano-core on loopback as a twistd daemon with a log file, as
    the quick start does, and return its PID file once Core listens.
    """
    config = root / "config"
    config.mkdir()
    write_atomic(config / "domain.cfg", FABRIC, mode=0o600)
    port = free_port()
    arguments = ["--config", str(config), "--data", str(root / "data")]
    arguments += ["--api-port", str(port), "--api-interface", "127.0.0.1"]
    arguments += ["--interface", "127.0.0.1", "--image-port", "0"]
    arguments += ["--image-interface", "127.0.0.1"]
    pidfile = root / "core.pid"
    start_twistd("nano-core", pidfile, root / "core.log", arguments, root)
    wait_until(lambda: api_listening(port), 20, "Core's API")
    return pidfile


def api_listening(port: int) -> bool:
    """Return whether something accepts connections on ``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True


def test_quickstart_log_hides_api_key(tmp_path):
    """
    Core's api.cfg is readable by root only, so the log the quick start
    gives Core must not show its API key to other users either.
    """
    pidfile = start_core_daemon(tmp_path)
    try:
        cfg = json.loads((tmp_path / "config" / "api.cfg").read_text())
        key = cfg["credentials"][0]["key"]
    finally:
        stop_pid(pidfile)

    log = tmp_path / "core.log"
    readable_by_others = log.stat().st_mode & 0o077
    assert key not in log.read_text() or not readable_by_others


def test_upload_device_file_named(nano):
    """
    ``nano image upload /dev/zero`` fails with a message naming the
    file, not a broken pipe, and leaves no record. The device is not a
    regular file, so its size reads as 0 although reading never ends.
    """
    result = nano("image", "upload", "/dev/zero", "--name", "device")

    assert result.exit_code != 0
    assert "/dev/zero" in result.output
    assert "Broken pipe" not in result.output
    assert "device" not in image_names(nano)
