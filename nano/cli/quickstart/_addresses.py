"""
The quick start's address pool, the directory modes its DHCP server
needs, and the guest's lease as its serial console shows it.
"""

import ipaddress
import os
import re
import stat
from pathlib import Path

from ._report import QuickstartError

BOOT_MARKER = "NANO-GUEST-BOOTED"
LEASE_MARKER = "NANO-GUEST-LEASE"
NO_LEASE_MARKER = "NANO-GUEST-NOLEASE"
_LEASED_IP = re.compile(r"\bip=(\S+)")


def open_directories(directory: Path) -> list[Path]:
    """
    Let other users pass through ``directory`` and each parent (add
    o+x where missing), because the Cell's dnsmasq drops root before it
    reads its files there. Return the directories changed.
    """
    changed = []
    directory = Path(directory).absolute()
    for path in [*reversed(directory.parents), directory]:
        mode = os.stat(path).st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(path, stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append(path)
    return changed


def ensure_address_pool(steps, settings, nano) -> None:
    """
    Create the quick start's address pool with its range: DHCP, with
    the bridge's address as gateway and DNS server. A pool that exists
    keeps its settings, and gets the range only if it has none.
    """
    name = settings.address_pool
    start, end = settings.address_bounds()
    pools = [pool["name"] for pool in nano.data("address-pool", "list")]
    if name not in pools:
        nano.data(
            "address-pool", "create", name,
            "--gateway", settings.address,
            "--dns", settings.address,
            "--provider", "dhcp",
        )  # fmt: skip
        steps.note(f"created address pool {name}, gateway {settings.address}")
    pool = nano.data("address-pool", "show", name)
    if pool["ranges"]:
        ranges = ", ".join(f"{r['start']}-{r['end']}" for r in pool["ranges"])
        steps.note(f"address pool {name} has ranges {ranges}; kept")
        return
    netmask = str(_network_of(settings).netmask)
    nano.data(
        "address-pool", "range", "add", name, start, end,
        "--netmask", netmask,
    )  # fmt: skip
    steps.note(f"added range {start}-{end} to address pool {name}")


def _network_of(settings):
    return ipaddress.ip_interface(settings.bridge_address).network


def bind_address_pool(steps, settings, nano) -> None:
    """
    Make the quick start's address pool the compute pool's network,
    unless the compute pool already has one, which it keeps.
    """
    pool = next(
        each
        for each in nano.data("pool", "list")
        if each["name"] == settings.pool
    )
    if pool["network"]:
        steps.note(f"compute pool {settings.pool} uses {pool['network']}")
        return
    nano.data(
        "pool", "modify", settings.pool, "--network", settings.address_pool
    )
    steps.note(
        f"bound address pool {settings.address_pool} to compute pool "
        f"{settings.pool}"
    )


def allocated_address(guest: dict) -> str | None:
    """Return the address Core allocated to ``guest``, if any."""
    return (guest.get("internal") or {}).get("allocated_address")


def console_text(console: Path, offset: int) -> str:
    """Return the console log from ``offset`` on, ``""`` if none yet."""
    try:
        with open(console, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def boot_lines(text: str) -> list[str]:
    """
    Return the console lines of the last boot in ``text``, from its
    :data:`BOOT_MARKER` line on; ``[]`` before the guest booted.
    """
    lines = [line.strip() for line in text.splitlines()]
    booted = [i for i, line in enumerate(lines) if BOOT_MARKER in line]
    return lines[booted[-1] :] if booted else []


def leased_address(lines: list[str]) -> str | None:
    """
    Return the address of the first lease line in ``lines`` (one boot),
    or None while there is none yet.

    :raises QuickstartError: the guest got no DHCP lease.
    """
    for line in lines:
        if NO_LEASE_MARKER in line:
            raise QuickstartError(
                "the guest got no DHCP lease (its console shows "
                f"{NO_LEASE_MARKER}); see dnsmasq's lines in the Cell log"
            )
        found = _LEASED_IP.search(line) if LEASE_MARKER in line else None
        if found:
            return found.group(1)
    return None
