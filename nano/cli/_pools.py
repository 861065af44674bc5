"""``nano pool`` and ``nano cell``: compute pools and their Cells."""

import click

from ._client import path_of
from ._context import pass_context

POOL_COLUMNS = ["name", "enabled", "cells", "storage", "network", "failover"]
CELL_COLUMNS = ["name", "pool", "address", "enabled", "alive"]


@click.group()
def pool():
    """Compute pools: groups of Cells that instances run on."""


@pool.command(name="list")
@pass_context
def list_pools(context):
    """List the compute pools."""
    rows = context.client.call("GET", "/compute_pools/")
    context.show_list(rows, POOL_COLUMNS, "no compute pools")


@pool.command()
@click.argument("name")
@click.option("--storage", default="", help="Storage pool; none by default.")
@click.option("--network", default="", help="Address pool; none by default.")
@click.option(
    "--failover", is_flag=True, help="Move instances off a lost Cell."
)
@pass_context
def create(context, name, storage, network, failover):
    """Create compute pool NAME."""
    body = {"storage": storage, "network": network, "failover": failover}
    context.client.call("POST", path_of("compute_pools", name), body)
    context.done(f"created compute pool {name}")


@pool.command()
@click.argument("name")
@click.option("--storage", help='New storage pool; "" for none.')
@click.option("--network", help='New address pool; "" for none.')
@click.option(
    "--failover/--no-failover",
    default=None,
    help="Move instances off a lost Cell, or not.",
)
@pass_context
def modify(context, name, storage, network, failover):
    """Change compute pool NAME's settings; others keep their value."""
    options = {"storage": storage, "network": network, "failover": failover}
    body = {key: value for key, value in options.items() if value is not None}
    if not body:
        raise click.UsageError(
            "nothing to change: give --storage, --network or --failover"
        )
    context.client.call("PUT", path_of("compute_pools", name), body)
    context.done(f"modified compute pool {name}")


@pool.command()
@click.argument("name")
@pass_context
def delete(context, name):
    """Delete compute pool NAME, which must have no Cells."""
    context.client.call("DELETE", path_of("compute_pools", name))
    context.done(f"deleted compute pool {name}")


@click.group()
def cell():
    """Cells: the hosts that run instances."""


@cell.command(name="list")
@click.option("--pool", "pool_name", help="Only the Cells of this pool.")
@pass_context
def list_cells(context, pool_name):
    """List Cells: those in no pool, then each pool's."""
    client = context.client
    if pool_name is None:
        pools = [row["name"] for row in client.call("GET", "/compute_pools/")]
        rows = [
            {**row, "pool": ""}
            for row in client.call("GET", "/compute_pool_cells/")
        ]
    else:
        pools, rows = [pool_name], []
    for name in pools:
        cells = client.call("GET", path_of("compute_pool_cells", name))
        rows += [{**row, "pool": name} for row in cells]
    context.show_list(rows, CELL_COLUMNS, "no Cells")


@cell.command()
@click.argument("pool_name", metavar="POOL")
@click.argument("cell_name", metavar="CELL")
@pass_context
def add(context, pool_name, cell_name):
    """Add connected Cell CELL to compute pool POOL."""
    path = path_of("compute_pool_cells", pool_name, cell_name)
    context.client.call("POST", path)
    context.done(f"added Cell {cell_name} to compute pool {pool_name}")


@cell.command()
@click.argument("pool_name", metavar="POOL")
@click.argument("cell_name", metavar="CELL")
@pass_context
def remove(context, pool_name, cell_name):
    """Remove Cell CELL, which must hold no instances, from POOL."""
    path = path_of("compute_pool_cells", pool_name, cell_name)
    context.client.call("DELETE", path)
    context.done(f"removed Cell {cell_name} from compute pool {pool_name}")
