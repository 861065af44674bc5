"""
Compute pool routes: ``/api/v1/compute_pools/``.

A pool's ``storage`` and ``network`` are the names of its storage pool
and address pool, ``""`` when it uses the Cells' local disks or has no
address pool (``null`` in Core's state). Failover moves the instances of
a lost Cell to other Cells, so it needs shared storage.
"""

from collections import Counter

from nano.events.core import (
    ComputePoolCreated,
    ComputePoolDeleted,
    ComputePoolModified,
)

from ._envelope import bad_request, conflict, not_found
from ._fields import (
    boolean,
    check_keys,
    check_name,
    choice,
    optional_name,
    parse_object,
)

#: Nano 1.x's network modes, accepted for compatibility and not used.
NETWORK_MODES = ("plain", "share", "mono")
CREATE_FIELDS = ("storage", "network", "failover", "cells", "network_mode")
MODIFY_FIELDS = ("storage", "network", "failover", "enable", "network_mode")


def pool_routes(api):
    """Return the compute pool routes of ``api`` (a :class:`CoreAPI`)."""
    routes = PoolRoutes(api)
    return [
        ("GET", "/compute_pools/", routes.list),
        ("GET", "/compute_pools/<pool>", routes.get),
        ("POST", "/compute_pools/<pool>", routes.create),
        ("PUT", "/compute_pools/<pool>", routes.modify),
        ("DELETE", "/compute_pools/<pool>", routes.delete),
    ]


def pool_json(pool, cells: int = 0) -> dict:
    """
    Return a pool as Nano 1.x clients read it.

    :param cells: the number of its Cells.
    """
    return {
        "name": pool.name,
        "enabled": pool.enabled,
        "cells": cells,
        "storage": pool.storage or "",
        "network": pool.network or "",
        "failover": pool.failover,
    }


class PoolRoutes:
    """The handlers of the compute pool routes."""

    def __init__(self, api):
        self.api = api
        self._listed = None
        self._listing = []

    def list(self, body):
        """
        Return every pool, sorted by name.

        The list is built once per version of the state's pool and Cell
        maps, which are replaced, never changed, so repeated reads of a
        large list cost only its serialization.
        """
        state = self.api.state
        pools, cells = state.pools, state.cells
        listed = self._listed
        if listed is None or listed[0] is not pools or listed[1] is not cells:
            counts = Counter(cell.pool for cell in cells.values())
            self._listing = [
                pool_json(pools[name], counts[name]) for name in sorted(pools)
            ]
            self._listed = (pools, cells)
        return self._listing

    def get(self, body, pool):
        """Return one pool."""
        cells = self.api.state.cells.values()
        count = sum(1 for cell in cells if cell.pool == pool)
        return pool_json(self._existing(pool), count)

    def create(self, body, pool):
        """Create a pool; its settings default to local storage, no
        address pool and no failover."""
        check_name("compute pool", pool)
        fields = parse_object(body)
        check_keys(fields, CREATE_FIELDS)
        settings = _settings(
            fields, storage=None, network=None, failover=False
        )
        _check_create_only(fields)
        if pool in self.api.state.pools:
            raise conflict(f"compute pool {pool!r} already exists")
        self._check_network(settings["network"])
        event = ComputePoolCreated(
            aggregate_id=pool, time=self.api.now(), **settings
        )
        return self._record(pool, event, settings["network"])

    def modify(self, body, pool):
        """
        Change a pool's settings; fields left out keep their value. The
        connected Cells of the pool are sent its new settings.
        """
        current = self._existing(pool)
        fields = parse_object(body)
        check_keys(fields, MODIFY_FIELDS)
        settings = _settings(
            fields,
            storage=current.storage,
            network=current.network,
            failover=current.failover,
        )
        enabled = current.enabled
        if "enable" in fields:
            enabled = boolean(fields, "enable")
        if "network" in fields:
            self._check_network(settings["network"])
        event = ComputePoolModified(
            aggregate_id=pool, time=self.api.now(), enabled=enabled, **settings
        )
        recorded = self._record(pool, event, settings["network"])
        return recorded.addCallback(self._modified, pool)

    def _modified(self, reply, pool):
        self.api.cluster.send_pool_to_members(pool)
        return reply

    def delete(self, body, pool):
        """Delete a pool that has no Cells."""
        self._existing(pool)
        cells = self.api.state.cells_of(pool)
        if cells:
            names = ", ".join(cell.name for cell in cells)
            raise conflict(
                f"compute pool {pool!r} still has Cells: {names}; remove "
                "them with DELETE /api/v1/compute_pool_cells/"
                f"{pool}/<cell> first"
            )
        event = ComputePoolDeleted(aggregate_id=pool, time=self.api.now())
        return self._record(pool, event)

    def _existing(self, name):
        pool = self.api.state.pools.get(name)
        if pool is None:
            raise not_found(f"compute pool {name!r} not found")
        return pool

    def _check_network(self, network) -> None:
        """
        :raises ApiError: 400, ``network`` names no address pool.
        """
        if network is None or network in self.api.state.addresses.pools:
            return
        raise bad_request(
            f"invalid network {network!r}: no such address pool; create it "
            f"with POST /api/v1/address_pools/{network}, or list them with "
            "GET /api/v1/address_pools/"
        )

    def _record(self, pool, event, network=None):
        # With the address pool's key, a deletion of that pool fails with
        # 409 while this change is being written.
        keys = [f"compute pool {pool!r}"]
        if network is not None:
            keys.append(f"address pool {network!r}")
        recorded = self.api.record(keys, event)
        return recorded.addCallback(lambda _: "")


def _settings(fields, **defaults) -> dict:
    """
    Return the pool's ``storage``, ``network`` and ``failover``: the
    request's values, else ``defaults``.

    :raises ApiError: 400, a value is invalid, or failover is asked for
        without shared storage.
    """
    settings = dict(defaults)
    if "storage" in fields:
        settings["storage"] = optional_name(fields, "storage", "storage pool")
    if "network" in fields:
        settings["network"] = optional_name(fields, "network", "address pool")
    if "failover" in fields:
        settings["failover"] = boolean(fields, "failover")
    if "network_mode" in fields:
        choice(fields, "network_mode", NETWORK_MODES)
    if settings["failover"] and settings["storage"] is None:
        raise bad_request(
            "invalid failover true: failover needs shared storage, so set "
            "storage to a storage pool name, or set failover to false"
        )
    return settings


def _check_create_only(fields) -> None:
    cells = fields.get("cells", [])
    if not isinstance(cells, list):
        raise bad_request("invalid cells: must be a list of Cell names")
    if cells:
        raise bad_request(
            "invalid cells: adding Cells when creating a pool is not "
            "supported; create the pool with no cells field, then add "
            "each Cell with POST /api/v1/compute_pool_cells/<pool>/<cell>"
        )
