"""
``twistd nano-cell``: the command-line options of a Cell and the
services they build.
"""

import socket
from pathlib import Path

from twisted.python import usage

from nano.fabric import parse_core_address

from ._build import CellOptions, StartupError, build_cell
from ._settings import DOMAIN_TYPES


class Options(usage.Options):
    """The options of ``twistd nano-cell``."""

    optParameters = [
        [
            "config",
            None,
            "/opt/nano/cell/config",
            "Directory of the Cell's configuration: cell.cfg (created "
            "with defaults) and domain.cfg (copied from Core).",
        ],
        [
            "data",
            None,
            "/opt/nano/cell/data",
            "Directory of the Cell's state: the journal in journal/, "
            "serial console logs in consoles/.",
        ],
        [
            "name",
            None,
            f"Cell_{socket.gethostname()}",
            "The Cell's node name, unique in the cluster.",
        ],
        [
            "libvirt-uri",
            None,
            None,
            "libvirt URI; by default libvirt_uri in cell.cfg, which is "
            "qemu:///system in a new one.",
        ],
        [
            "domain-type",
            None,
            None,
            "Domain type, kvm or qemu (emulation); by default domain_type "
            "in cell.cfg, which is kvm in a new one.",
        ],
        [
            "interface",
            None,
            None,
            "Interface name or IPv4 address for the fabric; by default "
            "interface in domain.cfg, or the default route's interface.",
        ],
        [
            "core",
            None,
            None,
            "Core's fabric address HOST:PORT; by default Core is found by "
            "multicast discovery.",
            parse_core_address,
        ],
    ]

    def postOptions(self):
        """Reject an unknown domain type."""
        domain_type = self["domain-type"]
        if domain_type is not None and domain_type not in DOMAIN_TYPES:
            raise usage.UsageError(
                f"invalid --domain-type {domain_type!r}: must be "
                f"{' or '.join(DOMAIN_TYPES)}"
            )


def cell_options(options):
    """Return the :class:`CellOptions` of parsed command-line options."""
    return CellOptions(
        config=Path(options["config"]),
        data=Path(options["data"]),
        name=options["name"],
        core=options["core"],
        interface=options["interface"],
        libvirt_uri=options["libvirt-uri"],
        domain_type=options["domain-type"],
    )


def makeService(options, reactor=None):
    """
    Build the Cell from its options.

    :raises SystemExit: with a message naming the problem and the fix,
        when the configuration, the journal or the directories are
        unusable.
    """
    if reactor is None:
        from twisted.internet import reactor
    try:
        return build_cell(cell_options(options), reactor)
    except StartupError as error:
        raise SystemExit(f"nano-cell: cannot start: {error}") from None
