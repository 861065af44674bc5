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

    :raises QuickstartError: ``name`` is a link that is not a bridge,
        is the default route's link, or is a bridge with a physical port
        (an uplink), any of which would let discovery and guests reach
        other hosts.
    """
    created = not bridge_exists(name)
    if created:
        ip("link", "add", "name", name, "type", "bridge")
    else:
        _check_own_bridge(name)
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


def _check_own_bridge(name: str) -> None:
    """Reject an existing link that is no bridge or leads off the host."""
    shown = ip("-j", "-d", "link", "show", "dev", name).stdout
    kind = json.loads(shown)[0].get("linkinfo", {}).get("info_kind")
    if kind != "bridge":
        detail = f"link kind {kind}" if kind else "a network device"
        raise QuickstartError(
            f"invalid --bridge {name}: the link {name} exists and is not "
            f"a bridge ({detail}); the quick start adds "
            "its address to a bridge with no uplink: pass --bridge with "
            "the name of a new bridge, e.g. nanoqs0"
        )
    if name in _default_route_links():
        raise QuickstartError(
            f"invalid --bridge {name}: the default route leaves through "
            f"{name}, so discovery multicast would leave this host; pass "
            "--bridge with the name of a new bridge, e.g. nanoqs0"
        )


def _default_route_links() -> set[str]:
    shown = ip("-j", "route", "show", "default").stdout
    return {route.get("dev") for route in json.loads(shown or "[]")}


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
