"""
Benchmark the time from ``POST /api/v1/guests/`` to a booted guest,
against a bare ``virsh create`` of the same domain.

Usage, as root: ``.venv/bin/python benchmarks/boot.py [--rounds N]
[--ports BASE] [--json FILE] [--directory DIR]``

It starts a private libvirtd (:mod:`nano.testing.libvirtd`), then
``twistd nano-core`` and ``twistd nano-cell`` on 127.0.0.1 with domain
type ``qemu`` (TCG), joins the Cell to a pool, and uploads the test
guest image (``tools/build-test-guest``). Each round then measures:

- **Nano**: a signed ``POST /api/v1/guests/`` with ``from_image`` and
  ``auto_start``. Times run from sending the request to: Core's reply,
  ``created`` in ``GET /api/v1/guests/<id>``, the libvirt domain
  running, and ``NANO-GUEST-BOOTED`` in the instance's serial console
  log. The first round downloads the image into the Cell's cache, and
  later rounds find it there.
- **Baseline**: ``qemu-img create`` of a qcow2 overlay on the Cell's
  cached copy of the same image, then ``virsh create`` of the first
  Nano instance's domain XML (``virsh dumpxml --inactive``) with
  another name, UUID, disk and console log, to the same marker.

Rounds alternate Nano and baseline, one guest at a time, so both see
the same machine load. Before each Nano and each baseline round it
waits until the Cell reports a CPU load below the scheduler's limit
(80 %), because the scheduler rejects a busier Cell. It also reports
the guest kernel's uptime in the marker line, and the CPU seconds that
Core, the Cell, libvirtd and the guest's QEMU process used in each
round (read from ``/proc``, in steps of 10 ms).

Everything it creates (domains, volumes, processes, the temporary
directory) is removed at the end, also after an error, Ctrl-C or
SIGTERM. The QEMU capability cache of :mod:`nano.testing.libvirtd`
stays, as the tests keep it.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from nano.config import write_atomic
from nano.core._scheduler import MAX_CPU_LOAD
from nano.signing import Request, sign
from nano.testing.libvirtd import PrivateLibvirtd, unavailable_reason

HOST = "127.0.0.1"
TWISTD = Path(sys.executable).parent / "twistd"
GUEST_IMAGE = Path("/var/tmp/nano-test-guest/nano-test-guest.qcow2")
MARKER = b"NANO-GUEST-BOOTED"
CELL_NAME = "Cell_boot"
POOL = "boot"
MIB = 1024**2
GIB = 1024**3
MEMORY = 128 * MIB
DISK = GIB
#: Seconds between two checks of the console log and of libvirt, and
#: between two ``GET /guests/<id>`` requests.
POLL_INTERVAL = 0.02
API_POLL_INTERVAL = 0.1
BOOT_TIMEOUT = 120.0
#: Seconds to wait for the Cell's CPU load to drop below the limit.
IDLE_TIMEOUT = 300.0
#: The kernel's uptime in the marker line: how long the guest's own
#: boot took, without firmware and boot loader.
UPTIME = "guest uptime at marker"
NANO_PHASES = ("api reply", "created", "domain running", "marker", UPTIME)
#: CPU seconds from the start to the marker: of Core, the Cell and
#: libvirtd, and of the domain's QEMU process.
NANO_CPU = ("core cpu", "cell cpu", "libvirtd cpu", "qemu cpu")
BASELINE_CPU = ("libvirtd cpu", "qemu cpu")
BASELINE_PHASES = ("overlay created", "domain running", "marker", UPTIME)


# --- processes ---------------------------------------------------------------


def wait_for(check, timeout, description):
    """Call ``check`` until it returns a true value, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise SystemExit(f"timed out after {timeout} s waiting for {description}")


def check_port_free(port, kind):
    """Exit with a message if ``port`` of ``kind`` is taken on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as probe:
        if kind == socket.SOCK_STREAM:
            # As Twisted's listenTCP does, so that connections of a run
            # just ended, in TIME_WAIT, do not count as taking the port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise SystemExit(
                f"port {port} on {HOST} is not free ({error}): choose "
                "other ports with --ports BASE"
            ) from None


class Daemon:
    """A ``twistd`` process in its own session, logging to a file."""

    def __init__(self, log_path: Path, arguments):
        self.name = arguments[0]
        self.log_path = log_path
        self.arguments = [str(TWISTD), "-n", "--pidfile=", *arguments]
        self.process = None

    def start(self):
        """Start the process; its own session keeps Ctrl-C away from it."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.arguments,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self):
        """Stop the process by its PID: SIGTERM, then SIGKILL after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        """Return the process's log so far."""
        return self.log_path.read_text(errors="replace")

    def check_running(self):
        """Exit with the log's tail if the process has ended."""
        if self.process.poll() is not None:
            raise SystemExit(
                f"{self.name} exited with status "
                f"{self.process.returncode}:\n{self.log()[-3000:]}"
            )


class Core(Daemon):
    """``twistd nano-core`` on 127.0.0.1, with a signed REST client."""

    def __init__(self, root: Path, ports, secret: str):
        self.config = root / "core-config"
        self.port, self.image_port, self.fabric_port, group_port = ports
        self.config.mkdir()
        fabric = {
            "secret": secret,
            "interface": HOST,
            "listen_port": self.fabric_port,
            "domain": "nano-boot-benchmark",
            "group_port": group_port,
        }
        write_atomic(self.config / "domain.cfg", fabric, mode=0o600)
        super().__init__(
            root / "core.log",
            [
                "nano-core",
                *("--config", str(self.config)),
                *("--data", str(root / "core-data")),
                *("--api-port", str(self.port), "--api-interface", HOST),
                *("--interface", HOST),
                *("--image-port", str(self.image_port)),
                *("--image-interface", HOST),
            ],
        )

    def start(self):
        """Start Core and wait until its API accepts connections."""
        super().start()
        wait_for(self._listening, 30, f"Core's API on port {self.port}")

    def _listening(self):
        self.check_running()
        try:
            socket.create_connection((HOST, self.port), 0.2).close()
        except OSError:
            return False
        return True

    def call(self, method, path, body=None, expected=(200,)):
        """Send a signed JSON request; return the envelope's data."""
        status, envelope = self.request(method, path, body)
        return self.check(method, path, status, envelope, expected)

    def request(self, method, path, body=None):
        """Send a signed JSON request; return its status and envelope."""
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"host": f"{HOST}:{self.port}"}
        if data:
            headers["content-type"] = "application/json"
        headers.update(
            self._signature(Request(method, path, "", headers, data))
        )
        return self._send(method, path, headers, data)

    def upload(self, path, file_path: Path):
        """POST a file as a raw body, signed as a streamed upload."""
        headers = {
            "host": f"{HOST}:{self.port}",
            "content-type": "application/octet-stream",
        }
        request = Request("POST", path, "", headers, b"")
        headers.update(self._signature(request, streamed=True))
        data = file_path.read_bytes()
        status, envelope = self._send("POST", path, headers, data)
        return self.check("POST", path, status, envelope, (200, 201, 202))

    def _signature(self, request, streamed=False):
        api = json.loads((self.config / "api.cfg").read_text())
        credential = api["credentials"][0]
        now = datetime.now(UTC)
        return sign(
            request, credential["id"], credential["key"], now, streamed
        )

    def _send(self, method, path, headers, data):
        url = f"http://{HOST}:{self.port}{path}"
        http = urllib.request.Request(
            url, data=data or None, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(http, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    @staticmethod
    def check(method, path, status, envelope, expected):
        """Return the envelope's data if ``status`` is expected, or exit."""
        if status not in expected:
            raise SystemExit(f"{method} {path} failed: {status} {envelope}")
        return envelope["data"]


class Cell(Daemon):
    """``twistd nano-cell`` on the private libvirtd, domain type qemu."""

    def __init__(self, root: Path, uri: str, core: Core, secret: str):
        self.data = root / "cell-data"
        self.volumes = root / "volumes"
        self.volumes.mkdir()
        config = root / "cell-config"
        config.mkdir()
        fabric = {"secret": secret, "interface": HOST}
        write_atomic(config / "domain.cfg", fabric, mode=0o600)
        settings = {
            "libvirt_uri": uri,
            "domain_type": "qemu",
            "storage_directory": str(self.volumes),
        }
        write_atomic(config / "cell.cfg", settings, mode=0o600)
        super().__init__(
            root / "cell.log",
            [
                "nano-cell",
                *("--config", str(config), "--data", str(self.data)),
                *("--name", CELL_NAME),
                *("--core", f"{HOST}:{core.fabric_port}"),
            ],
        )


# --- the cluster -------------------------------------------------------------


def join_pool(core: Core, cell: Cell):
    """Wait for the Cell, create the pool, add the Cell and wait for its
    first report."""

    def connected():
        cell.check_running()
        return core.call("GET", "/api/v1/compute_pool_cells/")

    wait_for(connected, 60, "the Cell to connect to Core")
    core.call("POST", f"/api/v1/compute_pools/{POOL}")
    core.call("POST", f"/api/v1/compute_pool_cells/{POOL}/{CELL_NAME}")
    status = f"/api/v1/compute_cell_status/{POOL}/{CELL_NAME}"
    wait_for(
        lambda: core.call("GET", status)["max_cpu"],
        30,
        "the Cell's first report",
    )


def upload_image(core: Core, path: Path) -> str:
    """Create a disk image record, upload ``path`` into it; return its id."""
    body = {"name": "boot-benchmark", "owner": "admin", "group": "manager"}
    created = core.call("POST", "/api/v1/disk_images/", body, (201,))
    image_id = created["id"]
    core.upload(f"/api/v1/disk_images/{image_id}/file/", path)
    wait_for(
        lambda: core.call("GET", f"/api/v1/disk_images/{image_id}").get(
            "created"
        ),
        60,
        f"Core to store the upload of {path}",
    )
    return image_id


def template_id(core: Core, name: str) -> str:
    """Return the id of the system template called ``name``."""
    templates = core.call("GET", "/api/v1/templates/")
    for template in templates:
        if template["name"] == name:
            return template["id"]
    names = ", ".join(repr(template["name"]) for template in templates)
    raise SystemExit(f"template {name!r} not found: choose one of {names}")


def cached_image(cell: Cell) -> Path:
    """Return the Cell's cached copy of the one uploaded image."""
    cached = sorted((cell.volumes / "images").glob("*.qcow2"))
    if len(cached) != 1:
        raise SystemExit(f"expected one cached image, found {cached}")
    return cached[0]


# --- waiting for phases ------------------------------------------------------


def wait_phases(start, checks, daemons, description):
    """
    Poll each check at its own interval until every one has passed.

    :param checks: ``{phase: (interval, check)}``.
    :param daemons: processes that must keep running meanwhile.
    :return: ``{phase: seconds}`` from ``start`` to the check that saw
        the phase, so each time is late by at most its interval.
    """
    times = {}
    due = dict.fromkeys(checks, 0.0)
    while len(times) < len(checks):
        now = time.perf_counter()
        if now - start > BOOT_TIMEOUT:
            missing = sorted(set(checks) - set(times))
            raise SystemExit(
                f"timed out after {BOOT_TIMEOUT} s waiting for {description}: "
                f"{', '.join(missing)}"
            )
        for phase, (interval, check) in checks.items():
            if phase in times or now < due[phase]:
                continue
            due[phase] = now + interval
            if check():
                times[phase] = time.perf_counter() - start
        for daemon in daemons:
            daemon.check_running()
        time.sleep(POLL_INTERVAL)
    return times


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds process ``pid`` has used."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemons_cpu(cluster) -> dict:
    """Return the CPU seconds used so far by Core, the Cell and libvirtd."""
    return {
        "core cpu": cpu_seconds(cluster["core"].process.pid),
        "cell cpu": cpu_seconds(cluster["cell"].process.pid),
        "libvirtd cpu": cpu_seconds(cluster["libvirtd"].process.pid),
    }


def cpu_used(cluster, before: dict, domain_name: str) -> dict:
    """Return the CPU seconds the daemons used since ``before``, and what
    the domain's QEMU process has used since it started."""
    used = {
        name: seconds - before[name]
        for name, seconds in daemons_cpu(cluster).items()
    }
    directory = cluster["libvirtd"].directory
    pidfile = Path(directory, "run", "qemu", f"{domain_name}.pid")
    used["qemu cpu"] = cpu_seconds(int(pidfile.read_text()))
    return used


def has_marker(console: Path) -> bool:
    """Return whether the serial console log shows the boot marker."""
    try:
        return MARKER in console.read_bytes()
    except FileNotFoundError:
        return False


def guest_uptime(console: Path) -> float:
    """Return the guest's uptime that the boot marker line shows: the
    seconds from the kernel's start to the marker."""
    text = console.read_bytes().decode(errors="replace")
    line = text[text.index(MARKER.decode()) :].splitlines()[0]
    for field in line.split():
        if field.startswith("uptime="):
            return float(field.removeprefix("uptime="))
    raise SystemExit(f"no uptime in the marker line of {console}: {line}")


def domain_running(connection, guest_id: str) -> bool:
    """Return whether libvirt runs the domain with UUID ``guest_id``."""
    import libvirt

    try:
        domain = connection.lookupByUUIDString(guest_id)
        return domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    except libvirt.libvirtError:
        return False


def guest_created(core: Core, guest_id: str) -> bool:
    """Return whether Core shows the guest created; exit if it failed."""
    guest = core.call("GET", f"/api/v1/guests/{guest_id}")
    if guest.get("error"):
        raise SystemExit(f"guest {guest_id} failed: {guest['error']}")
    return guest["created"]


# --- one round of each -------------------------------------------------------


def nano_round(cluster, index: int):
    """
    Create a guest from the image with auto start and time its phases.

    :return: the guest's id and ``{phase: seconds}``.
    """
    core = cluster["core"]
    cell = cluster["cell"]
    connection = cluster["libvirt"]
    body = {
        "name": f"boot-{index}",
        "owner": "admin",
        "group": "manager",
        "pool": POOL,
        "cores": 1,
        "memory": MEMORY,
        "disks": [DISK],
        "template": cluster["template"],
        "from_image": cluster["image"],
        "auto_start": True,
    }
    cpu_before = daemons_cpu(cluster)
    start, guest_id = post_guest(core, body)
    times = {"api reply": time.perf_counter() - start}
    console = cell.data / "consoles" / f"{guest_id}.log"
    checks = {
        "created": (API_POLL_INTERVAL, lambda: guest_created(core, guest_id)),
        "domain running": (
            POLL_INTERVAL,
            lambda: domain_running(connection, guest_id),
        ),
        "marker": (POLL_INTERVAL, lambda: has_marker(console)),
    }
    times.update(wait_phases(start, checks, (core, cell), f"guest {guest_id}"))
    times[UPTIME] = guest_uptime(console)
    name = connection.lookupByUUIDString(guest_id).name()
    times.update(cpu_used(cluster, cpu_before, name))
    return guest_id, times


def post_guest(core: Core, body: dict):
    """
    POST the guest, again while the scheduler rejects the Cell for its
    CPU load, which other work on this machine can raise at any time.

    :return: when the accepted request was sent, and the guest's id.
    """
    deadline = time.monotonic() + IDLE_TIMEOUT
    while True:
        start = time.perf_counter()
        status, envelope = core.request("POST", "/api/v1/guests/", body)
        busy = status == 503 and "CPU load" in envelope["message"]
        if not busy or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    data = core.check("POST", "/api/v1/guests/", status, envelope, (202,))
    return start, data["id"]


def wait_for_idle(core: Core):
    """
    Wait until the Cell's last report shows a CPU load below the
    scheduler's limit, before each Nano and each baseline round alike.
    """
    status = f"/api/v1/compute_cell_status/{POOL}/{CELL_NAME}"
    limit = 100 * MAX_CPU_LOAD
    wait_for(
        lambda: core.call("GET", status)["cpu_usage"] < limit,
        IDLE_TIMEOUT,
        f"the Cell's CPU load to drop below {limit:.0f} %",
    )


def delete_guest(cluster, guest_id: str):
    """Delete a Nano guest and check that its domain no longer runs."""
    cluster["core"].call("DELETE", f"/api/v1/guests/{guest_id}")
    if domain_running(cluster["libvirt"], guest_id):
        raise SystemExit(f"guest {guest_id} still runs after its delete")


def domain_xml(uri: str, guest_id: str) -> str:
    """Return a domain's stored XML, as ``virsh dumpxml`` prints it."""
    arguments = ["virsh", "-q", "-c", uri, "dumpxml", "--inactive"]
    arguments += ["--security-info", guest_id]
    return run_program(arguments).stdout.decode()


def baseline_xml(template: str, overlay: Path, console: Path, index: int):
    """Return the Nano domain's XML with another name, UUID, disk and
    console log."""
    domain = ET.fromstring(template)
    domain.find("name").text = f"boot-baseline-{index}"
    domain.find("uuid").text = str(uuid.uuid4())
    disks = domain.findall("devices/disk[@device='disk']")
    if len(disks) != 1:
        raise SystemExit(f"expected one disk in the domain XML:\n{template}")
    disks[0].find("source").set("file", str(overlay))
    for backing in disks[0].findall("backingStore"):
        disks[0].remove(backing)
    for log in domain.iterfind("devices/serial/log"):
        log.set("file", str(console))
    for device in ("serial", "console"):
        for source in domain.iterfind(
            f"devices/{device}[@type='file']/source"
        ):
            source.set("path", str(console))
    for mac in domain.iterfind("devices/interface/mac"):
        mac.set("address", "52:54:00:" + os.urandom(3).hex(":"))
    return ET.tostring(domain, encoding="unicode")


def baseline_round(cluster, template: str, index: int):
    """
    Make a qcow2 overlay of the cached image with ``qemu-img``, start
    the domain with ``virsh create``, and time its phases.

    :return: ``{phase: seconds}``.
    """
    directory = cluster["baseline"]
    overlay = directory / f"baseline-{index}.qcow2"
    console = directory / f"baseline-{index}.log"
    xml_path = directory / f"baseline-{index}.xml"
    xml_path.write_text(baseline_xml(template, overlay, console, index))
    image = str(cluster["cached image"])
    create = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", image]
    create += ["-F", "qcow2", str(overlay), str(DISK)]
    start_domain = ["virsh", "-q", "-c", cluster["uri"], "create"]
    start_domain.append(str(xml_path))

    cpu_before = daemons_cpu(cluster)
    start = time.perf_counter()
    run_program(create)
    times = {"overlay created": time.perf_counter() - start}
    run_program(start_domain)
    times["domain running"] = time.perf_counter() - start
    marker = {"marker": (POLL_INTERVAL, lambda: has_marker(console))}
    times.update(wait_phases(start, marker, (), f"baseline {index}"))
    times[UPTIME] = guest_uptime(console)
    name = f"boot-baseline-{index}"
    times.update(cpu_used(cluster, cpu_before, name))

    cluster["libvirt"].lookupByName(name).destroy()
    overlay.unlink()
    return times


def run_program(arguments):
    """Run a program; exit with its output if it fails."""
    result = subprocess.run(arguments, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(arguments)} failed with status {result.returncode}: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return result


# --- the run -----------------------------------------------------------------


def load_average() -> float:
    """Return the 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def measure(cluster, rounds: int):
    """Run the rounds, Nano then baseline in each; return their times."""
    results = {"nano": [], "baseline": [], "image fetched": [], "load": []}
    template = None
    for index in range(rounds):
        load_before = load_average()
        wait_for_idle(cluster["core"])
        guest_id, times = nano_round(cluster, index)
        results["nano"].append(times)
        fetches = cluster["cell"].log().count("Fetched disk image")
        results["image fetched"].append(fetches)
        if template is None:
            template = domain_xml(cluster["uri"], guest_id)
            cluster["cached image"] = cached_image(cluster["cell"])
        delete_guest(cluster, guest_id)
        wait_for_idle(cluster["core"])
        results["baseline"].append(baseline_round(cluster, template, index))
        results["load"].append((load_before, load_average()))
        print(f"round {index + 1}/{rounds}: {round_line(results)}")
    results["domain xml"] = template
    return results


def round_line(results) -> str:
    """Return the last round's Nano and baseline totals as text."""
    nano = results["nano"][-1]["marker"]
    baseline = results["baseline"][-1]["marker"]
    return f"Nano {nano:.2f} s, baseline {baseline:.2f} s to the marker"


def start_cluster(cluster, ports, template_name: str):
    """
    Start libvirtd, Core and the Cell, join the pool and upload the
    image. Each part goes into ``cluster`` as soon as it exists, so that
    :func:`stop_cluster` finds it after a failure half-way.
    """
    import libvirt

    workdir = cluster["workdir"]
    libvirtd = cluster["libvirtd"] = PrivateLibvirtd(workdir / "libvirtd")
    libvirtd.start()
    cluster["uri"] = libvirtd.uri
    connection = cluster["libvirt"] = libvirt.open(libvirtd.uri)
    # Load QEMU's capabilities now, as a long-running libvirtd has them,
    # so that the first round does not pay for it.
    connection.getDomainCapabilities(None, "x86_64", None, "qemu")
    secret = os.urandom(32).hex()
    core = cluster["core"] = Core(workdir, ports, secret)
    core.start()
    cell = cluster["cell"] = Cell(workdir, libvirtd.uri, core, secret)
    cell.start()
    join_pool(core, cell)
    cluster["image"] = upload_image(core, GUEST_IMAGE)
    cluster["template"] = template_id(core, template_name)
    cluster["baseline"] = workdir / "baseline"
    cluster["baseline"].mkdir()


def remove_domains(connection):
    """Destroy and undefine every domain, skipping any that vanish
    meanwhile, such as one whose ``virsh create`` an interrupt cut
    short."""
    import libvirt

    for domain in connection.listAllDomains(0):
        try:
            if domain.isActive():
                domain.destroy()
            if domain.isPersistent():
                domain.undefine()
        except libvirt.libvirtError:
            pass  # gone already


def stop_cluster(cluster):
    """Stop and remove everything ``start_cluster`` made, by PID."""
    steps = [
        lambda: cluster["cell"].stop(),
        lambda: cluster["core"].stop(),
        lambda: remove_domains(cluster["libvirt"]),
        lambda: cluster["libvirt"].close(),
        lambda: cluster["libvirtd"].stop(),
        lambda: shutil.rmtree(cluster["workdir"]),
    ]
    for step in steps:
        try:
            step()
        except KeyError:
            pass  # that part was never made
        except Exception as error:  # the other steps must still run
            print(f"cleanup step failed: {error!r}", file=sys.stderr)


def check_cache(results):
    """Exit unless the Cell fetched the image in the first round only,
    which is what the report's split into rounds assumes."""
    fetched = results["image fetched"]
    if any(count != 1 for count in fetched):
        raise SystemExit(
            "expected one image download, in the first round; the "
            f"Cell's log counts these after each round: {fetched}"
        )


# --- the report --------------------------------------------------------------


def summary(values):
    """Return the median, minimum and maximum of ``values``."""
    return statistics.median(values), min(values), max(values)


def phase_table(rounds, phases):
    """Return ``{phase: (p50, min, max)}`` over ``rounds``."""
    return {
        phase: summary([times[phase] for times in rounds]) for phase in phases
    }


def machine() -> dict:
    """Describe this machine and the versions that the times depend on."""
    import libvirt

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        line.split(":", 1)[1].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("model name")
    )
    qemu = run_program(["qemu-system-x86_64", "--version"]).stdout.decode()
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "qemu": qemu.splitlines()[0],
        "libvirt": libvirt.getVersion(),
    }


def analyse(results) -> dict:
    """Turn the rounds' times into the figures of the report."""
    nano = results["nano"]
    baseline = results["baseline"]
    virsh_only = [
        times["marker"] - times["overlay created"] for times in baseline
    ]
    cached = phase_table(nano[1:], NANO_PHASES + NANO_CPU)
    bare = phase_table(baseline, BASELINE_PHASES + BASELINE_CPU)
    return {
        "first round": nano[0],
        "cache hit": cached,
        "baseline": bare,
        "virsh create to marker": summary(virsh_only),
        "overhead": {
            phase: cached[phase][0] - bare[phase][0]
            for phase in ("domain running", "marker")
        },
        "load": summary([value for pair in results["load"] for value in pair]),
    }


def report(figures, rounds: int, machine_info: dict):
    """Print the machine, then the figures as tables."""
    libvirt_version = machine_info["libvirt"]
    print(
        f"\n{rounds} rounds; {machine_info['cpus']} x {machine_info['cpu']}, "
        f"Linux {machine_info['kernel']}, {machine_info['qemu']}, "
        f"libvirt {libvirt_version // 1000000}."
        f"{libvirt_version // 1000 % 1000}.{libvirt_version % 1000}, "
        "domain type qemu (TCG)"
    )
    low, high = figures["load"][1:]
    print(f"load average (1 min) during the rounds: {low:.2f} to {high:.2f}")

    print("\nNano, round 1 (image fetched into the Cell's cache):")
    for phase in NANO_PHASES + NANO_CPU:
        print(f"  {phase:22} {figures['first round'][phase]:7.3f} s")
    report_table(figures, rounds)
    report_overhead(figures)


def report_table(figures, rounds: int):
    """Print p50, min and max of every phase of the later rounds."""
    print(f"\n{'seconds from the start':34} {'p50':>6} {'min':>6} {'max':>6}")
    rows = [
        (f"Nano, {phase}", figures["cache hit"][phase])
        for phase in NANO_PHASES + NANO_CPU
    ]
    rows += [
        (f"baseline, {phase}", figures["baseline"][phase])
        for phase in BASELINE_PHASES + BASELINE_CPU
    ]
    virsh_only = figures["virsh create to marker"]
    rows.append(("baseline, virsh create to marker", virsh_only))
    for name, (p50, low, high) in rows:
        print(f"{name:34} {p50:6.3f} {low:6.3f} {high:6.3f}")
    print(
        f"Nano rows: rounds 2 to {rounds}, image in the cache, from sending "
        f"the POST. Baseline rows: rounds 1 to {rounds}, from starting "
        "qemu-img. Uptime rows: the kernel's uptime in the marker line. CPU "
        "rows: CPU seconds of the process from the start to the marker."
    )


def report_overhead(figures):
    """Print what Nano adds to the baseline, at the p50."""
    print("\noverhead of Nano, p50 of the cache-hit rounds minus p50 of the")
    print("baseline, and that as a share of the baseline's p50:")
    for phase, seconds in figures["overhead"].items():
        share = seconds / figures["baseline"][phase][0]
        print(f"  to {phase:16} {seconds:+7.3f} s {share:+5.0%}")


# --- the command line --------------------------------------------------------


def parse_arguments():
    """Parse and check the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds of Nano and baseline; at least 2, because the first "
        "Nano round also downloads the image (default 5)",
    )
    parser.add_argument(
        "--ports",
        type=int,
        default=5970,
        metavar="BASE",
        help="Core's TCP ports: API BASE, image service BASE+1; UDP: "
        "fabric BASE+2, discovery BASE+3, all on 127.0.0.1 (default 5970)",
    )
    parser.add_argument(
        "--template",
        default="CentOS 7",
        help="system template of the guests (default 'CentOS 7': SCSI "
        "disk, virtio NIC)",
    )
    parser.add_argument("--json", help="also write the results to FILE")
    parser.add_argument(
        "--directory",
        default="/var/tmp",
        help="where the temporary directory goes (default /var/tmp)",
    )
    arguments = parser.parse_args()
    if arguments.rounds < 2:
        parser.error(
            f"invalid --rounds {arguments.rounds}: use 2 or more, because "
            "the first round also downloads the image"
        )
    if not 1024 <= arguments.ports <= 65532:
        parser.error(
            f"invalid --ports {arguments.ports}: use a number from 1024 "
            "to 65532, so that BASE to BASE+3 are valid ports"
        )
    return arguments


def check_machine(base: int):
    """Exit with the reason and the fix if the benchmark cannot run here."""
    reason = unavailable_reason()
    if reason is not None:
        raise SystemExit(f"cannot run a private libvirtd: {reason}")
    if shutil.which("virsh") is None:
        raise SystemExit("virsh not found: install libvirt-clients")
    if not GUEST_IMAGE.exists():
        raise SystemExit(
            f"{GUEST_IMAGE} not found: run tools/build-test-guest "
            f"{GUEST_IMAGE.parent}"
        )
    check_port_free(base, socket.SOCK_STREAM)
    check_port_free(base + 1, socket.SOCK_STREAM)
    check_port_free(base + 2, socket.SOCK_DGRAM)


def interrupt(signal_number, frame):
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so that the
    cleanup runs as it does after Ctrl-C."""
    raise KeyboardInterrupt(signal.Signals(signal_number).name)


def main():
    """Run the benchmark and print, and optionally save, its report."""
    arguments = parse_arguments()
    check_machine(arguments.ports)
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)
    # A shell starts background jobs with SIGINT ignored; Ctrl-C and
    # kill -INT must still reach the cleanup.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signal_number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signal_number, interrupt)
    ports = tuple(arguments.ports + offset for offset in range(4))
    workdir = Path(
        tempfile.mkdtemp(prefix="nano-boot-", dir=arguments.directory)
    )
    cluster = {"workdir": workdir}
    try:
        start_cluster(cluster, ports, arguments.template)
        results = measure(cluster, arguments.rounds)
    except KeyboardInterrupt:
        raise SystemExit("interrupted") from None
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signal_number, signal.SIG_IGN)
        stop_cluster(cluster)
    check_cache(results)
    figures = analyse(results)
    machine_info = machine()
    report(figures, arguments.rounds, machine_info)
    if arguments.json:
        saved = {"machine": machine_info, "figures": figures, **results}
        Path(arguments.json).write_text(json.dumps(saved, indent=2))


if __name__ == "__main__":
    main()
