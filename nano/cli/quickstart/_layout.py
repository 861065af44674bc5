"""The quick start's file layout, and the settings of a run."""

import ipaddress
import json
from pathlib import Path

import attrs

from ._report import QuickstartError

SETTINGS_FILE = "quickstart.json"


def _port(instance, attribute, value) -> None:
    """Reject a port that a saved settings file may contain."""
    if type(value) is not int or not 1 <= value <= 65535:
        raise ValueError(
            f"invalid {attribute.name} {value!r}: must be a port from 1 "
            "to 65535"
        )


@attrs.frozen
class Settings:
    """
    The settings of a quick start, saved in its state directory so
    that ``stop`` and a second run use the same bridge and ports.

    :ivar bridge_address: the bridge's IPv4 address with its prefix,
        ``10.213.250.1/24``; Core's API, fabric and image service
        listen on it or on loopback.
    :ivar group_port: UDP port of multicast discovery on the bridge.
    :ivar domain_type: ``qemu`` (emulation) or ``kvm``.
    :ivar address_range: ``START-END``, the internal range of the
        address pool, inside the bridge's network; ``""`` means
        :meth:`address_bounds`' default.
    """

    state_dir: Path = attrs.field(converter=Path)
    bridge: str = "nanobr0"
    bridge_address: str = "10.213.250.1/24"
    api_port: int = attrs.field(default=5870, validator=_port)
    image_port: int = attrs.field(default=5871, validator=_port)
    group_port: int = attrs.field(default=5599, validator=_port)
    domain: str = "nano-quickstart"
    domain_type: str = "qemu"
    guest_dir: Path = attrs.field(
        default=Path("/var/tmp/nano-test-guest"), converter=Path
    )
    cell_name: str = "Cell_quickstart"
    guest_name: str = "quickstart-vm"
    pool: str = "default"
    address_pool: str = "default"
    address_range: str = ""

    @property
    def address(self) -> str:
        """The bridge's IPv4 address, without the prefix."""
        return str(ipaddress.ip_interface(self.bridge_address).ip)

    def address_bounds(self) -> tuple[str, str]:
        """
        Return the first and last address of the address pool's range:
        ``address_range``, or by default .100 to .199 of the bridge's
        network (the upper half of its hosts in a network smaller than
        a /24).

        :raises QuickstartError: ``address_range`` is invalid, or not
            inside the bridge's network.
        """
        network = ipaddress.ip_interface(self.bridge_address).network
        if not self.address_range:
            return _default_bounds(network)
        start, end = _parse_range(self.address_range)
        if start not in network or end not in network:
            raise QuickstartError(
                f"invalid --address-range {self.address_range}: it must "
                f"lie inside the bridge's network {network}"
            )
        return str(start), str(end)

    def to_json(self) -> dict:
        """Return the settings as a JSON object."""
        return attrs.asdict(self, value_serializer=_plain)


def _default_bounds(network) -> tuple[str, str]:
    if network.num_addresses >= 256:
        first = network.network_address
        return str(first + 100), str(first + 199)
    hosts = list(network.hosts())
    return str(hosts[len(hosts) // 2]), str(hosts[-1])


def _parse_range(text: str):
    try:
        start, end = (ipaddress.IPv4Address(part) for part in text.split("-"))
    except ValueError:
        start = end = None
    if start is None or start > end:
        raise QuickstartError(
            f"invalid --address-range {text}: expected START-END, two IPv4 "
            "addresses in ascending order, e.g. 10.213.250.100-10.213.250.199"
        )
    return start, end


def _plain(instance, field, value):
    return str(value) if isinstance(value, Path) else value


@attrs.frozen
class Layout:
    """The files of one quick start, all under ``state_dir``."""

    state_dir: Path = attrs.field(converter=Path)

    @property
    def libvirt(self) -> Path:
        """The private libvirtd's directory (state, socket, logs)."""
        return self.state_dir / "libvirt"

    @property
    def libvirt_pidfile(self) -> Path:
        """libvirtd's PID file, written by libvirtd itself."""
        return self.libvirt / "libvirtd.pid"

    @property
    def libvirt_uri(self) -> str:
        """The URI of the private libvirtd."""
        socket = self.libvirt / "sock" / "libvirt-sock"
        return f"qemu:///system?socket={socket}"

    def config(self, node: str) -> Path:
        """Config directory of ``core`` or ``cell``."""
        return self.state_dir / node / "config"

    def data(self, node: str) -> Path:
        """Data directory of ``core`` or ``cell``."""
        return self.state_dir / node / "data"

    def log(self, node: str) -> Path:
        """twistd log file of ``core`` or ``cell``."""
        return self.state_dir / "logs" / f"{node}.log"

    def pidfile(self, node: str) -> Path:
        """twistd PID file of ``core`` or ``cell``."""
        return self.state_dir / "run" / f"{node}.pid"

    @property
    def dnsmasq_pidfile(self) -> Path:
        """The PID file of the Cell's dnsmasq, written by dnsmasq."""
        return self.data("cell") / "dhcp" / "dnsmasq.pid"

    @property
    def api_cfg(self) -> Path:
        """Core's api.cfg, with the API credential."""
        return self.config("core") / "api.cfg"

    def console_log(self, guest_id: str) -> Path:
        """Return the serial console log of an instance on the Cell."""
        return self.data("cell") / "consoles" / f"{guest_id}.log"

    @property
    def settings_file(self) -> Path:
        """The saved :class:`Settings` of the last start."""
        return self.state_dir / SETTINGS_FILE


def save_settings(layout: Layout, settings: Settings) -> None:
    """Write ``settings`` to the state directory."""
    layout.settings_file.write_text(
        json.dumps(settings.to_json(), indent=2) + "\n"
    )


def load_settings(layout: Layout) -> Settings | None:
    """Return the saved settings, or ``None`` if there are none."""
    path = layout.settings_file
    try:
        return Settings(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        raise QuickstartError(
            f"invalid {path}: {error}; delete it to start with the defaults"
        ) from None
