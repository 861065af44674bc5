"""
``twistd nano-core``: the command-line options of Core and the service
they build.
"""

import ipaddress
from pathlib import Path

from twisted.python import usage

from ._logging import LEVEL_NAMES, set_level
from ._service import CoreOptions, CoreService, StartupError, build_core


def _port_option(option: str):
    def parse(value: str) -> int:
        port = int(value) if value.isdigit() else -1
        if not 0 <= port <= 65535:
            raise ValueError(
                f"invalid --{option} {value!r}: must be an integer from 0 "
                "to 65535"
            )
        return port

    parse.coerceDoc = "An integer from 0 to 65535 (0 picks a free port)."
    return parse


_port = _port_option("api-port")


def _percent(value: str) -> int:
    percent = int(value) if value.isdigit() else -1
    if not 1 <= percent <= 100:
        raise ValueError(
            f"invalid --max-cpu-load {value!r}: must be an integer from 1 "
            "to 100 (percent)"
        )
    return percent


_percent.coerceDoc = "An integer from 1 to 100."


class Options(usage.Options):
    """The options of ``twistd nano-core``."""

    optParameters = [
        [
            "config",
            None,
            "/opt/nano/core/config",
            "Directory of Core's configuration files: api.cfg and "
            "domain.cfg (the fabric's, created with a new cluster secret).",
        ],
        [
            "data",
            None,
            "/opt/nano/core/data",
            "Directory of Core's state; the journal is in its journal/.",
        ],
        [
            "api-port",
            None,
            None,
            "TCP port of the REST API; by default the port in api.cfg, "
            "which is 5870 in a new one",
            _port,
        ],
        [
            "api-interface",
            None,
            "127.0.0.1",
            "IP address the REST API listens on; 0.0.0.0 for every IPv4 "
            "interface.",
        ],
        [
            "interface",
            None,
            None,
            "Interface name or IPv4 address of the cluster fabric (Cell "
            "discovery and messages); by default interface in domain.cfg, "
            "or the default route's interface.",
        ],
        [
            "image-port",
            None,
            5871,
            "TCP port of the HTTPS image service, from which Cells "
            "download images.",
            _port_option("image-port"),
        ],
        [
            "image-interface",
            None,
            "0.0.0.0",
            "IP address the image service listens on; the default, every "
            "IPv4 interface, lets Cells on other hosts reach it.",
        ],
        [
            "max-cpu-load",
            None,
            80,
            "Percent of a Cell's CPU time in use above which the scheduler "
            "gives it no new instance; 100 turns the check off.",
            _percent,
        ],
        [
            "log-level",
            None,
            "info",
            f"Minimum level of Core's log messages: {', '.join(LEVEL_NAMES)}.",
        ],
    ]

    def postOptions(self):
        """Reject an invalid interface address or log level."""
        for option in ("api-interface", "image-interface"):
            try:
                ipaddress.ip_address(self[option])
            except ValueError:
                raise usage.UsageError(
                    f"invalid --{option} {self[option]!r}: must be an IP "
                    "address, such as 127.0.0.1 or 0.0.0.0"
                ) from None
        if self["log-level"] not in LEVEL_NAMES:
            raise usage.UsageError(
                f"invalid --log-level {self['log-level']!r}: must be one of "
                f"{', '.join(LEVEL_NAMES)}"
            )


def core_options(options: Options) -> CoreOptions:
    """Return the :class:`CoreOptions` of parsed command-line options."""
    return CoreOptions(
        config=Path(options["config"]),
        data=Path(options["data"]),
        port=options["api-port"],
        interface=options["api-interface"],
        fabric_interface=options["interface"],
        image_port=options["image-port"],
        image_interface=options["image-interface"],
        max_cpu_load=options["max-cpu-load"] / 100,
    )


def makeService(options: Options, reactor=None) -> CoreService:
    """
    Build Core from its options.

    :raises SystemExit: with a message naming the problem and the fix,
        when the configuration, the journal or the port is unusable.
    """
    if reactor is None:
        from twisted.internet import reactor
    set_level(options["log-level"])
    try:
        return build_core(core_options(options), reactor)
    except StartupError as error:
        raise SystemExit(f"nano-core: cannot start: {error}") from None
