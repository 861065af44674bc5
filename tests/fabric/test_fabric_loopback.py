"""
Discovery and requests between two processes over loopback, inside a
private network namespace (``unshare -rn``), so no root is needed and
no multicast can leave the machine.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from nano.config import write_atomic

HERE = Path(__file__).parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("unshare") is None, reason="needs unshare(1)"
    ),
]

SCRIPT = """
set -e
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
"$PYTHON" "$NODE" core --config "$CONFIG" --name core > "$OUT/core" &
CORE=$!
"$PYTHON" "$NODE" cell --config "$CONFIG" --name cell --requests 50 \\
    > "$OUT/cell" &
CELL=$!
for _ in $(seq 100); do
    grep -q echoed "$OUT/cell" && grep -q named "$OUT/core" && break
    sleep 0.1
done
kill $CELL $CORE
wait
"""


def events(path):
    """Return the event lines a node program wrote to ``path``."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_discovery_over_loopback_namespace(tmp_path):
    """Two processes find each other and exchange requests without root."""
    probe = subprocess.run(["unshare", "-rn", "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("unshare -rn is not permitted here")
    config = tmp_path / "domain.cfg"
    write_atomic(config, {"secret": "5a" * 32, "interface": "lo"}, 0o600)
    environment = {
        "PYTHON": sys.executable,
        "NODE": str(HERE / "fabric_node.py"),
        "CONFIG": str(config),
        "OUT": str(tmp_path),
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    subprocess.run(
        ["unshare", "-rn", "sh", "-c", SCRIPT],
        env=environment,
        check=True,
        timeout=30,
    )
    cell = events(tmp_path / "cell")
    core = events(tmp_path / "core")
    echoed = [event for event in cell if event["event"] == "echoed"]
    assert echoed[0]["correct"] == 50
    named = [event["peer"] for event in core if event["event"] == "named"]
    assert named == ["cell"]
