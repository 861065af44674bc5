"""
``tools/quickstart [start]``: bring up the all-in-one cluster and boot a
guest, reusing whatever a previous run left running.
"""

import json
import secrets
import socket
import subprocess
from pathlib import Path

from nano.config import write_atomic

from . import _addresses, _network
from ._client import Nano
from ._layout import Layout, Settings, save_settings
from ._processes import (
    running_pid,
    start_libvirtd,
    start_twistd,
)
from ._report import QuickstartError, Steps, wait_for

REPOSITORY = Path(__file__).resolve().parents[3]
GUEST_IMAGE = "nano-test-guest.qcow2"
IMAGE_NAME = "nano-test-guest"
STEPS = 11
#: Seconds from the boot marker to the lease line; the guest gives up
#: after 20 s without a DHCP reply.
LEASE_TIMEOUT = 60.0
DEFAULT_STATE_DIR = Path("/var/lib/nano-quickstart")


def start(settings: Settings, boot_timeout: float) -> None:
    """Run every step of the quick start, then print how to use it."""
    layout = Layout(settings.state_dir)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    save_settings(layout, settings)
    steps = Steps(STEPS)
    nano = Nano(layout.api_cfg, settings.api_port)

    _libvirtd(steps, layout)
    _test_guest(steps, settings)
    _bridge(steps, layout, settings)
    _configure(steps, layout, settings)
    _core(steps, layout, settings)
    _cell(steps, layout, settings, nano)
    image_id = _image(steps, settings, nano)
    _address_pool(steps, settings, nano)
    _pool(steps, settings, nano)
    guest_id = _guest(steps, settings, nano, image_id)
    address = _boot(steps, layout, settings, nano, guest_id, boot_timeout)
    _summary(layout, settings, nano, guest_id, address)


def _libvirtd(steps, layout):
    steps.begin("Start libvirtd (the quick start's own)")
    pid = running_pid(layout.libvirt_pidfile)
    if pid is not None:
        steps.end(f"already running, PID {pid}")
        return
    start_libvirtd(layout.libvirt)
    steps.end(f"running, PID {running_pid(layout.libvirt_pidfile)}")


def _test_guest(steps, settings):
    steps.begin(f"Build the test guest image in {settings.guest_dir}")
    # Its own progress lines show, because the first build downloads and
    # installs Debian packages.
    command = [str(REPOSITORY / "tools" / "build-test-guest")]
    completed = subprocess.run([*command, str(settings.guest_dir)])
    if completed.returncode != 0:
        raise QuickstartError(
            f"tools/build-test-guest failed with exit status "
            f"{completed.returncode}; its output is above"
        )
    steps.end()


def _bridge(steps, layout, settings):
    steps.begin(
        f"Create bridge {settings.bridge} ({settings.bridge_address}, "
        "no uplink)"
    )
    created = _network.ensure_bridge(settings.bridge, settings.bridge_address)
    routed = _network.ensure_safety_route()
    marks = layout.state_dir / "network.json"
    previous = json.loads(marks.read_text()) if marks.exists() else {}
    marks.write_text(
        json.dumps(
            {
                "bridge_created": created or previous.get("bridge_created"),
                "route_added": routed or previous.get("route_added"),
            }
        )
    )
    steps.end("created" if created else "already there")


def _domain_cfg(layout, settings) -> dict:
    path = layout.config("core") / "domain.cfg"
    current = json.loads(path.read_text()) if path.exists() else {}
    return {
        **current,
        "secret": current.get("secret") or secrets.token_hex(32),
        "domain": settings.domain,
        "group_port": settings.group_port,
        "interface": settings.bridge,
    }


def _configure(steps, layout, settings):
    steps.begin("Write Core's and the Cell's configuration")
    domain = _domain_cfg(layout, settings)
    for node in ("core", "cell"):
        write_atomic(layout.config(node) / "domain.cfg", domain, mode=0o600)
    cell = {
        "libvirt_uri": layout.libvirt_uri,
        "domain_type": settings.domain_type,
        "storage_directory": str(layout.data("cell") / "volumes"),
        "bridge": settings.bridge,
    }
    write_atomic(layout.config("cell") / "cell.cfg", cell, mode=0o600)
    _open_cell_data(steps, layout)
    steps.note(
        f"fabric: domain {settings.domain} on {settings.bridge}, "
        f"discovery port {settings.group_port}"
    )
    steps.end()


def _open_cell_data(steps, layout):
    # NOTE: twistd daemonizes with umask 077, so a DHCP directory that
    # the Cell creates is mode 0700, which the Cell then rejects. So
    # the quick start creates the directory first.
    dhcp = layout.dnsmasq_pidfile.parent
    dhcp.mkdir(parents=True, exist_ok=True)
    for path in _addresses.open_directories(dhcp):
        steps.note(
            f"made {path} o+x, because the Cell's dnsmasq reads its files "
            "under it as user nobody"
        )


def _api_listening(port) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True


def _core(steps, layout, settings):
    steps.begin("Start Core (twistd nano-core)")
    pid = running_pid(layout.pidfile("core"))
    if pid is None:
        arguments = [
            "--config",
            str(layout.config("core")),
            "--data",
            str(layout.data("core")),
            "--api-port",
            str(settings.api_port),
            "--api-interface",
            "127.0.0.1",
            "--interface",
            settings.bridge,
            *_image_service_options(settings),
        ]
        start_twistd(
            "nano-core",
            layout.pidfile("core"),
            layout.log("core"),
            arguments,
            settings.state_dir,
        )
        pid = running_pid(layout.pidfile("core"))
    wait_for(
        lambda: _api_listening(settings.api_port),
        30,
        f"Core's API on 127.0.0.1:{settings.api_port}; see "
        f"{layout.log('core')}",
    )
    _record_api_port(layout.api_cfg, settings.api_port)
    steps.end(f"API on 127.0.0.1:{settings.api_port}, PID {pid}")


def _record_api_port(api_cfg: Path, port: int) -> None:
    """
    Write the port that Core runs on into its ``api.cfg``, which Core
    creates with port 5870, so that ``NANO_CONFIG=<api.cfg> nano ...``
    reaches this Core. Core reads the file only when it starts.
    """
    value = json.loads(api_cfg.read_text())
    if value.get("port") != port:
        write_atomic(api_cfg, {**value, "port": port}, mode=0o600)


def _image_service_options(settings) -> list[str]:
    # The Cell downloads from Core's address on the bridge, so the image
    # service need not listen on any other interface.
    return [
        "--image-port",
        str(settings.image_port),
        "--image-interface",
        settings.address,
    ]


def _cell(steps, layout, settings, nano):
    steps.begin(f"Start a Cell (twistd nano-cell), {settings.cell_name}")
    if running_pid(layout.pidfile("cell")) is None:
        arguments = [
            "--config",
            str(layout.config("cell")),
            "--data",
            str(layout.data("cell")),
            "--name",
            settings.cell_name,
        ]
        start_twistd(
            "nano-cell",
            layout.pidfile("cell"),
            layout.log("cell"),
            arguments,
            settings.state_dir,
        )
    steps.note(
        f"waiting for Core to discover it by multicast on {settings.bridge}"
    )

    def discovered():
        cells = nano.data("cell", "list")
        return any(
            cell["name"] == settings.cell_name and cell["alive"]
            for cell in cells
        )

    wait_for(discovered, 60, f"the Cell to connect; see {layout.log('cell')}")
    steps.end(f"connected, PID {running_pid(layout.pidfile('cell'))}")


def _image(steps, settings, nano):
    path = settings.guest_dir / GUEST_IMAGE
    steps.begin(f"Upload the test image {path}")
    for image in nano.data("image", "list"):
        if image["name"] == IMAGE_NAME:
            steps.end(f"already uploaded: image {image['id']}")
            return image["id"]
    nano.show("image", "upload", str(path), "--name", IMAGE_NAME)
    image_id = next(
        image["id"]
        for image in nano.data("image", "list")
        if image["name"] == IMAGE_NAME
    )
    steps.end(f"image {image_id}")
    return image_id


def _address_pool(steps, settings, nano):
    start, end = settings.address_bounds()
    steps.begin(
        f"Create address pool {settings.address_pool} ({start}-{end}, DHCP "
        f"on {settings.bridge})"
    )
    _addresses.ensure_address_pool(steps, settings, nano)
    steps.end()


def _pool(steps, settings, nano):
    steps.begin(f"Create pool {settings.pool} and add the Cell to it")
    pools = [pool["name"] for pool in nano.data("pool", "list")]
    if settings.pool not in pools:
        nano.show(
            "pool", "create", settings.pool, "--network", settings.address_pool
        )
    else:
        _addresses.bind_address_pool(steps, settings, nano)
    members = nano.data("cell", "list", "--pool", settings.pool)
    if settings.cell_name not in [cell["name"] for cell in members]:
        nano.show("cell", "add", settings.pool, settings.cell_name)
    steps.end()


def _guest(steps, settings, nano, image_id):
    steps.begin(f"Create guest {settings.guest_name} from the image")
    for guest in nano.data("guest", "list", "--pool", settings.pool):
        if guest["name"] != settings.guest_name:
            continue
        reason = _unusable_reason(nano, guest)
        if reason is None:
            steps.end(f"already created: guest {guest['id']}")
            return guest["id"]
        steps.note(f"deleting guest {guest['id']}: {reason}")
        nano.data("guest", "delete", guest["id"])
    guest_id = _create_guest(steps, settings, nano, image_id)
    nano.show("guest", "wait", guest_id)
    steps.end(f"guest {guest_id}")
    return guest_id


def _unusable_reason(nano, guest) -> str | None:
    # A guest whose creation failed, whose domain was removed behind
    # Nano (a stop while Core was down), or that was created before its
    # pool had an address pool, is replaced.
    if not guest.get("created"):
        return "its creation failed"
    if _needs_address(nano, guest):
        return "it has no address, because it predates the address pool"
    status = nano.attempt("instance", "status", guest["id"])
    if status.returncode != 0:
        return f"its status is unknown: {status.stderr.strip()}"
    if json.loads(status.stdout).get("state") == "lost":
        return "its Cell lost its domain"
    return None


def _needs_address(nano, guest) -> bool:
    details = nano.data("guest", "show", guest["id"])
    pool = next(
        each
        for each in nano.data("pool", "list")
        if each["name"] == guest["pool"]
    )
    return bool(pool["network"]) and not _addresses.allocated_address(details)


def _create_guest(steps, settings, nano, image_id):
    arguments = [
        "guest",
        "create",
        settings.guest_name,
        "--pool",
        settings.pool,
        "--image",
        image_id,
        "--cores",
        "1",
        "--memory",
        "128M",
        "--disk",
        "1G",
    ]

    # The scheduler places nothing on a Cell above 80 % CPU load, which a
    # busy host can exceed for seconds at a time, so try again.
    def placed():
        completed = nano.attempt(*arguments)
        if completed.returncode == 0:
            return json.loads(completed.stdout)["id"]
        if "no Cell of compute pool" not in completed.stderr:
            raise QuickstartError(completed.stderr.strip())
        reason = completed.stderr.strip().removeprefix("Error: ")
        steps.note(f"waiting for the Cell to fit it: {reason}")
        return None

    return wait_for(placed, 120, "a Cell that fits the guest", interval=3)


def _boot(steps, layout, settings, nano, guest_id, timeout) -> str:
    steps.begin("Start the guest and wait for its console to show its lease")
    console = layout.console_log(guest_id)
    offset = 0
    if not nano.data("instance", "status", guest_id).get("running"):
        offset = console.stat().st_size if console.exists() else 0
        nano.show("instance", "start", guest_id)
    steps.note(f"serial console log: {console}")

    def lines():
        return _addresses.boot_lines(_addresses.console_text(console, offset))

    booted = wait_for(lines, timeout, f"{_addresses.BOOT_MARKER} in {console}")
    steps.note(booted[0])
    leased = wait_for(
        lambda: _addresses.leased_address(lines()),
        LEASE_TIMEOUT,
        f"{_addresses.LEASE_MARKER} in {console}",
    )
    _check_lease(nano, guest_id, leased)
    steps.end(f"leased {leased}, the address Core allocated")
    return leased


def _check_lease(nano, guest_id, leased):
    allocated = _addresses.allocated_address(
        nano.data("guest", "show", guest_id)
    )
    if leased != allocated:
        raise QuickstartError(
            f"guest {guest_id} leased {leased}, but Core allocated it "
            f"{allocated}; see dnsmasq's lines in the Cell log"
        )


def _stop_command(settings) -> str:
    if settings.state_dir == DEFAULT_STATE_DIR:
        return "tools/quickstart stop"
    return f"tools/quickstart stop --state-dir {settings.state_dir}"


def _summary(layout, settings, nano, guest_id, address):
    api_cfg = json.loads(layout.api_cfg.read_text())
    lines = [
        "",
        f"The quick start is running; state in {settings.state_dir}.",
        f"  API:       http://127.0.0.1:{settings.api_port}/api/v1/",
        f"  API id:    {api_cfg['credentials'][0]['id']}"
        f" (key in {layout.api_cfg})",
        f"  Guest:     {settings.guest_name} ({guest_id}), address {address}",
        f"  Try:       {nano.command_line('guest', 'show', guest_id)}",
        f"  Console:   {layout.console_log(guest_id)}",
        f"  Logs:      {layout.log('core')}, {layout.log('cell')}",
        f"  libvirt:   virsh -c '{layout.libvirt_uri}' list",
        f"  Stop:      {_stop_command(settings)}",
    ]
    print("\n".join(lines))
