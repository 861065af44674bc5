"""
Routes of the Cells of compute pools: ``/api/v1/compute_pool_cells/``.

A Cell joins a pool only while it is connected to Core, as in Nano 1.x;
Core then sends it ``ComputePoolReady`` with the pool's storage and
address pool, and sends it again each time the Cell connects.
"""

from nano.events.core import CellAdded, CellDisabled, CellEnabled, CellRemoved

from ._envelope import conflict, not_found
from ._fields import boolean, check_keys, check_name, parse_object

MODIFY_FIELDS = ("enable",)


def cell_routes(api):
    """Return the routes of pool Cells of ``api`` (a CoreAPI)."""
    routes = CellRoutes(api)
    path = "/compute_pool_cells/<pool>/<cell>"
    return [
        ("GET", "/compute_pool_cells/", routes.unallocated),
        ("GET", "/compute_pool_cells/<pool>", routes.list),
        ("GET", path, routes.get),
        ("POST", path, routes.add),
        ("PUT", path, routes.modify),
        ("DELETE", path, routes.remove),
    ]


def cell_json(name: str, enabled: bool, live) -> dict:
    """
    Return a Cell as Nano 1.x clients read it.

    :param live: the Cell's :class:`~nano.core._cluster.LiveCell`, or
        ``None`` if it has not connected since Core started.
    """
    return {
        "name": name,
        "address": live.address if live is not None else "",
        "enabled": enabled,
        "alive": live is not None and live.alive,
    }


def find_pool(state, name: str):
    """
    Return the compute pool ``name`` of Core's state.

    :raises ApiError: 404 when there is no such pool.
    """
    pool = state.pools.get(name)
    if pool is None:
        raise not_found(f"compute pool {name!r} not found")
    return pool


def find_member(state, pool: str, cell: str):
    """
    Return Cell ``cell`` of compute pool ``pool`` in Core's state.

    :raises ApiError: 404 when the pool or the Cell in it is missing.
    """
    find_pool(state, pool)
    member = state.cells.get(cell)
    if member is None or member.pool != pool:
        raise not_found(f"Cell {cell!r} not found in compute pool {pool!r}")
    return member


class CellRoutes:
    """The handlers of the pool Cell routes."""

    def __init__(self, api):
        self.api = api
        self.cluster = api.cluster

    def unallocated(self, body):
        """Return the Cells that connected and belong to no pool."""
        return [
            cell_json(cell.name, True, cell)
            for cell in self.cluster.unallocated()
        ]

    def list(self, body, pool):
        """Return the Cells of a pool, sorted by name."""
        find_pool(self.api.state, pool)
        return [
            cell_json(
                member.name, member.enabled, self.cluster.cell(member.name)
            )
            for member in self.api.state.cells_of(pool)
        ]

    def get(self, body, pool, cell):
        """
        Return one Cell of a pool; ``storage`` lists the shared storage
        pools it has attached, none while Cells use local disks only.
        """
        member = find_member(self.api.state, pool, cell)
        reply = cell_json(cell, member.enabled, self.cluster.cell(cell))
        reply["storage"] = []
        return reply

    def add(self, body, pool, cell):
        """Add a connected Cell that is in no pool to ``pool``."""
        find_pool(self.api.state, pool)
        check_name("Cell", cell)
        check_keys(parse_object(body), ())
        member = self.api.state.cells.get(cell)
        if member is not None:
            raise conflict(
                f"Cell {cell!r} is in compute pool {member.pool!r} already; "
                f"remove it from {member.pool!r} first"
            )
        if self.cluster.cell(cell) is None:
            raise not_found(
                f"Cell {cell!r} not found: it has not connected to Core; "
                "start nano-cell on its host, then list the Cells waiting "
                "for a pool with GET /api/v1/compute_pool_cells/"
            )
        event = CellAdded(aggregate_id=cell, time=self.api.now(), pool=pool)
        recorded = self._record(pool, cell, event)
        return recorded.addCallback(self._added, cell)

    def modify(self, body, pool, cell):
        """Enable or disable a Cell: ``{"enable": true|false}``."""
        member = find_member(self.api.state, pool, cell)
        fields = parse_object(body)
        check_keys(fields, MODIFY_FIELDS, MODIFY_FIELDS)
        enable = boolean(fields, "enable")
        if enable == member.enabled:
            return ""
        kind = CellEnabled if enable else CellDisabled
        event = kind(aggregate_id=cell, time=self.api.now())
        return self._record(pool, cell, event).addCallback(lambda _: "")

    def remove(self, body, pool, cell):
        """
        Remove a Cell from its pool. A Cell that still has instances is
        kept, because they would be left without a pool.
        """
        find_member(self.api.state, pool, cell)
        live = self.cluster.cell(cell)
        if live is not None and live.instances:
            raise conflict(
                f"Cell {cell!r} still has {len(live.instances)} "
                "instances; delete or migrate them first"
            )
        # TODO: tell the Cell that it left the pool; no message for that
        # exists yet, so it learns it when Core next names its pool.
        event = CellRemoved(aggregate_id=cell, time=self.api.now(), pool=pool)
        return self._record(pool, cell, event).addCallback(lambda _: "")

    def _record(self, pool, cell, event):
        keys = [f"compute pool {pool!r}", f"Cell {cell!r}"]
        return self.api.record(keys, event)

    def _added(self, _, cell):
        self.cluster.send_pool(cell)
        return ""
