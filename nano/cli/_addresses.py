"""``nano address-pool``: address pools and their ranges."""

import click

from ._client import path_of
from ._context import pass_context
from ._output import print_fields, print_table

POOL_COLUMNS = [
    "name",
    "gateway",
    "dns",
    "provider",
    "mode",
    "addresses",
    "allocated",
]
RANGE_COLUMNS = ["type", "start", "end", "netmask", "capacity"]
ALLOCATION_COLUMNS = ["address", "instance"]
SETTINGS = ("name", "gateway", "dns", "provider", "mode")
RANGE_TYPES = ("internal", "external")

_range_type = click.option(
    "--type",
    "range_type",
    type=click.Choice(RANGE_TYPES),
    default="internal",
    show_default=True,
    help="Range type: Core allocates from the pool's mode.",
)


@click.group(name="address-pool")
def address_pool():
    """Address pools: IPv4 ranges, gateway and DNS for instances."""


@address_pool.command(name="list")
@pass_context
def list_pools(context):
    """List the address pools with their capacity and allocations."""
    rows = context.client.call("GET", "/address_pools/")
    context.show_list(rows, POOL_COLUMNS, "no address pools")


@address_pool.command()
@click.argument("name")
@pass_context
def show(context, name):
    """Show address pool NAME, its ranges and its allocations."""
    data = context.client.call("GET", path_of("address_pools", name))
    if context.json:
        context.show_object(data)
        return
    print_fields({key: data.get(key) for key in SETTINGS})
    click.echo()
    print_table(data.get("ranges", []), RANGE_COLUMNS, "no ranges")
    click.echo()
    print_table(
        data.get("allocated", []), ALLOCATION_COLUMNS, "no allocations"
    )


@address_pool.command()
@click.argument("name")
@click.option("--gateway", required=True, help="Gateway IPv4 address.")
@click.option(
    "--dns",
    multiple=True,
    help="DNS server IPv4 address, repeated for up to 8; none by default.",
)
@click.option(
    "--provider",
    type=click.Choice(["dhcp", "cloudinit"]),
    default="dhcp",
    show_default=True,
    help="How instances get their address: the Cell's DHCP server, or "
    "static settings in their cloud-init data.",
)
@click.option(
    "--mode",
    type=click.Choice(RANGE_TYPES),
    default="internal",
    show_default=True,
    help="The range type Core allocates from.",
)
@pass_context
def create(context, name, gateway, dns, provider, mode):
    """Create address pool NAME, with no ranges yet."""
    body = {
        "gateway": gateway,
        "dns": list(dns),
        "provider": provider,
        "mode": mode,
    }
    context.client.call("POST", path_of("address_pools", name), body)
    context.done(f"created address pool {name}")


@address_pool.command()
@click.argument("name")
@pass_context
def delete(context, name):
    """Delete address pool NAME, which no compute pool may use."""
    context.client.call("DELETE", path_of("address_pools", name))
    context.done(f"deleted address pool {name}")


@address_pool.group(name="range")
def address_range():
    """Ranges of an address pool: the addresses Core allocates."""


@address_range.command(name="list")
@click.argument("pool_name", metavar="POOL")
@_range_type
@pass_context
def list_ranges(context, pool_name, range_type):
    """List the ranges of one type of address pool POOL."""
    path = path_of("address_pools", pool_name, range_type, "ranges")
    rows = context.client.call("GET", path + "/")
    rows = [{**row, "type": range_type} for row in rows]
    context.show_list(rows, RANGE_COLUMNS, f"no {range_type} ranges")


@address_range.command()
@click.argument("pool_name", metavar="POOL")
@click.argument("start")
@click.argument("end")
@click.option(
    "--netmask",
    default="255.255.255.0",
    show_default=True,
    help="Netmask of the range's network, which contains the gateway.",
)
@_range_type
@pass_context
def add(context, pool_name, start, end, netmask, range_type):
    """Add the range START to END (inclusive) to address pool POOL."""
    path = path_of("address_pools", pool_name, range_type, "ranges", start)
    body = {"end": end, "netmask": netmask}
    context.client.call("POST", path, body)
    context.done(
        f"added {range_type} range {start}-{end} to address pool {pool_name}"
    )


@address_range.command()
@click.argument("pool_name", metavar="POOL")
@click.argument("start")
@_range_type
@pass_context
def remove(context, pool_name, start, range_type):
    """Remove the range that begins at START from address pool POOL."""
    path = path_of("address_pools", pool_name, range_type, "ranges", start)
    context.client.call("DELETE", path)
    context.done(
        f"removed {range_type} range {start} from address pool {pool_name}"
    )
