"""
The quick start's bridge: no uplink, so discovery multicast and guest
traffic stay on this host. Every command is idempotent.
"""

import json
import subprocess

from ._report import QuickstartError

#: Routes 10.213.0.0/16 nowhere unless a more specific route exists, so
#: that no test address leaves through the default route.
SAFETY_ROUTE = ["blackhole", "10.213.0.0/16", "metric", "4000"]


def ip(*arguments, check=True) -> subprocess.CompletedProcess:
    """Run ``ip ARGUMENTS``; raise a QuickstartError when it fails."""
    completed = subprocess.run(
        ["ip", *arguments], capture_output=True, text=True
    )
    if check and completed.returncode != 0:
        raise QuickstartError(
            f"'ip {' '.join(arguments)}' failed: {completed.stderr.strip()}"
        )
    return completed


def bridge_exists(name: str) -> bool:
    """Return whether a link called ``name`` exists."""
    return ip("link", "show", "dev", name, check=False).returncode == 0


def _addresses(name: str) -> list[str]:
    shown = ip("-j", "address", "show", "dev", name).stdout
    return [
        f"{entry['local']}/{entry['prefixlen']}"
        for link in json.loads(shown)
        for entry in link.get("addr_info", [])
    ]


def _uplinks(name: str) -> list[str]:
    shown = ip("-j", "link", "show", "master", name).stdout
    return [link["ifname"] for link in json.loads(shown or "[]")]


def ensure_bridge(name: str, address: str) -> bool:
    """
    Create bridge ``name`` with ``address`` and bring it up, reusing one
    that exists; return whether it was created.

    :raises QuickstartError: the bridge has a physical port (an uplink),
        which would let discovery and guests reach other hosts.
    """
    created = not bridge_exists(name)
    if created:
        ip("link", "add", "name", name, "type", "bridge")
    ports = [port for port in _uplinks(name) if not port.startswith("vnet")]
    if ports:
        raise QuickstartError(
            f"bridge {name} has ports {', '.join(ports)}; the quick start "
            "needs a bridge with no uplink: pass --bridge with another name"
        )
    if address not in _addresses(name):
        ip("address", "add", address, "dev", name)
    ip("link", "set", "dev", name, "up")
    return created


def remove_bridge(name: str) -> bool:
    """Delete bridge ``name``; return whether it existed."""
    if not bridge_exists(name):
        return False
    ip("link", "delete", "dev", name)
    return True


def ensure_safety_route() -> bool:
    """Add :data:`SAFETY_ROUTE` unless present; return whether added."""
    shown = ip("route", "show", "type", "blackhole", "10.213.0.0/16").stdout
    if shown.strip():
        return False
    ip("route", "add", *SAFETY_ROUTE)
    return True


def remove_safety_route() -> None:
    """Delete :data:`SAFETY_ROUTE` if present."""
    ip("route", "delete", *SAFETY_ROUTE, check=False)
