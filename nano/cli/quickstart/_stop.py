"""
``tools/quickstart stop``: delete the quick start's guests, stop its
processes by their PID files, and remove its bridge.
"""

import json
import shutil
from pathlib import Path

from . import _network
from ._client import Nano
from ._layout import Layout, Settings
from ._processes import alive as _alive
from ._processes import kill_qemu, running_pid, stop_pid
from ._report import QuickstartError, Steps

STEPS = 5


def stop(settings: Settings, purge: bool) -> None:
    """Stop everything the quick start in ``settings.state_dir`` runs."""
    layout = Layout(settings.state_dir)
    steps = Steps(STEPS)
    # The Cell ends its dnsmasq once no guest uses DHCP, so the PID is
    # read before the guests go.
    dnsmasq = running_pid(layout.dnsmasq_pidfile)
    _delete_guests(steps, layout, settings)
    steps.begin("Stop the Cell and its dnsmasq")
    _report_stopped(steps, stop_pid(layout.pidfile("cell")))
    _stop_dnsmasq(steps, layout, dnsmasq)
    steps.begin("Stop Core")
    _report_stopped(steps, stop_pid(layout.pidfile("core")))
    _stop_libvirtd(steps, layout)
    _remove_network(steps, layout, settings)
    if purge:
        shutil.rmtree(settings.state_dir)
        print(f"Removed {settings.state_dir}.")
    else:
        print(
            f"Stopped. State kept in {settings.state_dir}: the next start "
            "reuses the image, pool and Cell (stop --purge removes it)."
        )


def _report_stopped(steps, pid):
    steps.end(f"stopped PID {pid}" if pid else "was not running")


def _stop_dnsmasq(steps, layout, pid):
    # The Cell stops its dnsmasq, but a Cell killed with SIGKILL leaves
    # it running; a PID file that names another program is left alone.
    if pid is None:
        pid = running_pid(layout.dnsmasq_pidfile)
        if pid is None:
            return
    if not _alive(pid):
        steps.note(f"dnsmasq PID {pid} has ended")
        return
    if not _is_dnsmasq(pid, layout.dnsmasq_pidfile):
        steps.note(f"PID {pid} of {layout.dnsmasq_pidfile} is no dnsmasq")
        return
    stop_pid(layout.dnsmasq_pidfile, timeout=5.0)
    steps.note(f"stopped dnsmasq PID {pid}, which outlived the Cell")


def _is_dnsmasq(pid, pidfile) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    named = Path(command[0].decode(errors="replace")).name == "dnsmasq"
    return named and f"--pid-file={pidfile}".encode() in command


def _delete_guests(steps, layout, settings):
    steps.begin("Delete the quick start's guests")
    cell_up = running_pid(layout.pidfile("cell")) is not None
    if running_pid(layout.pidfile("core")) is None or not cell_up:
        steps.end("Core or the Cell is not running; skipped")
        return
    nano = Nano(layout.api_cfg, settings.api_port)
    try:
        guests = nano.data("guest", "list")
        for guest in guests:
            nano.data("guest", "delete", guest["id"])
            steps.note(f"deleted guest {guest['name']} ({guest['id']})")
    except QuickstartError as error:
        # The domains go with the libvirtd below in any case.
        steps.note(f"warning: {error}")
    steps.end()


def _stop_libvirtd(steps, layout):
    steps.begin("Stop the quick start's libvirtd and its QEMU processes")
    if running_pid(layout.libvirt_pidfile) is not None:
        _remove_domains(steps, layout.libvirt_uri)
    pid = stop_pid(layout.libvirt_pidfile)
    killed = kill_qemu(layout.libvirt)
    if killed:
        steps.note(f"killed leftover QEMU PIDs {killed}")
    _report_stopped(steps, pid)


def _remove_domains(steps, uri):
    import libvirt

    libvirt.registerErrorHandler(lambda *arguments: None, None)
    try:
        connection = libvirt.open(uri)
    except libvirt.libvirtError as error:
        steps.note(f"warning: cannot connect to {uri}: {error}")
        return
    try:
        for domain in connection.listAllDomains(0):
            if domain.isActive():
                domain.destroy()
            if domain.isPersistent():
                domain.undefine()
            steps.note(f"removed domain {domain.name()}")
    finally:
        connection.close()


def _remove_network(steps, layout, settings):
    steps.begin(f"Remove bridge {settings.bridge}")
    marks_path = layout.state_dir / "network.json"
    marks = json.loads(marks_path.read_text()) if marks_path.exists() else {}
    if marks.get("route_added"):
        _network.remove_safety_route()
    if not marks.get("bridge_created"):
        steps.end("not created by the quick start; kept")
        return
    removed = _network.remove_bridge(settings.bridge)
    marks_path.unlink()
    steps.end("removed" if removed else "was not there")
