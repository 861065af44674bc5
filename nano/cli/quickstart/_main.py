"""The quick start's command line: ``start`` (the default) or ``stop``."""

import ipaddress
import os

import click

from ._layout import Layout, Settings, load_settings
from ._report import QuickstartError
from ._start import DEFAULT_STATE_DIR, start
from ._stop import stop

DEFAULTS = Settings(state_dir=DEFAULT_STATE_DIR)
#: A TCP or UDP port: the quick start needs fixed ports, so 0 (any free
#: port) is not accepted.
PORT = click.IntRange(1, 65535)


def _bridge_address(ctx, param, value):
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        interface = None
    subnet = ipaddress.ip_network("10.213.0.0/16")
    if interface is None or interface.network.subnet_of(subnet) is False:
        raise click.BadParameter(
            f"{value!r} is not an address with a prefix inside 10.213.0.0/16,"
            " e.g. 10.213.250.1/24"
        )
    return value


def _option(name, help_text, **extra):
    default = getattr(DEFAULTS, name.replace("-", "_"))
    return click.option(
        f"--{name}",
        default=None,
        help=f"{help_text} [default: {default}]",
        **extra,
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument(
    "action", type=click.Choice(["start", "stop"]), default="start"
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=str(DEFAULTS.state_dir),
    show_default=True,
    help="Directory of the quick start's configuration, data, logs and "
    "PID files.",
)
@_option("bridge", "Name of the bridge to create (no uplink).")
@_option(
    "bridge-address",
    "The bridge's IPv4 address/prefix, inside 10.213.0.0/16.",
    callback=lambda ctx, param, value: (
        value and _bridge_address(ctx, param, value)
    ),
)
@click.option(
    "--address-range",
    default=None,
    metavar="FIRST-LAST",
    help="IPv4 addresses that Core allocates to guests, inside the "
    "bridge's network [default: .100-.199 of the bridge's /24].",
)
@_option("api-port", "TCP port of Core's REST API on 127.0.0.1.", type=PORT)
@_option("image-port", "TCP port of Core's HTTPS image service.", type=PORT)
@_option("group-port", "UDP port of multicast discovery.", type=PORT)
@_option("domain", "Cluster domain name of the fabric.")
@_option(
    "domain-type",
    "Guest domain type: qemu (emulation) or kvm, where /dev/kvm boots guests.",
    type=click.Choice(["qemu", "kvm"]),
)
@_option("guest-dir", "Where tools/build-test-guest puts the test image.")
@click.option(
    "--boot-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the guest's boot marker.",
)
@click.option(
    "--purge", is_flag=True, help="With stop: also delete the state dir."
)
@click.option(
    "--skip-install", is_flag=True, help="Do not run tools/install first."
)
def main(action, state_dir, boot_timeout, purge, skip_install, **options):
    """
    Run Core, a Cell and one guest on this host (start), or stop them
    all (stop). Options not given keep the values of the last start in
    the same state directory.
    """
    if os.geteuid() != 0:
        raise click.ClickException(
            "the quick start needs root (bridges, libvirtd, QEMU); run it "
            "with sudo"
        )
    try:
        settings = _settings(os.path.abspath(state_dir), options)
        if action == "start":
            start(settings, boot_timeout)
        else:
            stop(settings, purge)
    except QuickstartError as error:
        raise click.ClickException(str(error)) from None


def _settings(state_dir, options) -> Settings:
    saved = load_settings(Layout(state_dir)) or Settings(state_dir=state_dir)
    values = {
        name: value for name, value in options.items() if value is not None
    }
    settings = Settings(
        **{**saved.to_json(), **values, "state_dir": state_dir}
    )
    settings.address_bounds()
    return settings
