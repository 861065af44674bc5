"""The zone status route: ``/api/v1/compute_zone_status/``."""

from datetime import UTC, datetime

from .status import Totals

#: The zone's name; Nano 1.x's default domain.
ZONE_NAME = "default"


def zone_routes(api):
    """Return the zone status route of ``api`` (a CoreAPI)."""
    return [("GET", "/compute_zone_status/", lambda body: zone_status(api))]


def zone_status(api) -> dict:
    """
    Return the zone's totals in Nano 1.x's shape.

    ``pools`` is ``[disabled, enabled]``, ``cells`` is ``[offline,
    online]`` and ``instances`` is ``[stopped, running, lost,
    migrating]``. Memory and disk are in bytes, speeds in bytes per
    second, and ``start_time`` is Core's start in UTC. The Cells are
    those of every pool and those connected in no pool; the figures are
    computed as in :mod:`nano.core.api.status`.
    """
    state = api.state
    pools = state.pools.values()
    enabled = sum(1 for pool in pools if pool.enabled)
    started = datetime.fromtimestamp(api.start_time, UTC)
    totals = Totals()
    for name in state.cells:
        totals.add(api.cluster.cell(name))
    for cell in api.cluster.unallocated():
        totals.add(cell)
    return {
        "name": ZONE_NAME,
        "pools": [len(pools) - enabled, enabled],
        **totals.json(),
        "start_time": f"{started:%Y-%m-%d %H:%M:%S}",
    }
