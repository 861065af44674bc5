"""
Status routes, from the Cells' live reports: ``/api/v1/compute_pool_status/``,
``/compute_cell_status/`` and ``/instance_status/``.

Sizes are in bytes. ``cells`` is ``[offline, online]`` and
``instances`` is ``[stopped, running, lost, migrating]``. A Cell's
``cpu_usage`` is the percentage of its cores that were busy over its
last report. A pool's or the zone's is the same percentage over all
their online Cells' cores, and ``max_cpu`` counts those cores. Only
online Cells add to the capacity figures.
"""

import attrs

from .._cluster import RUNNING_STATES
from .cells import cell_json, find_member, find_pool

#: Fields of Nano 1.x's status replies that Cells do not report yet.
_SPEEDS = ("read_speed", "write_speed", "receive_speed", "send_speed")


def status_routes(api):
    """Return the status routes of ``api`` (a CoreAPI)."""
    routes = StatusRoutes(api)
    return [
        ("GET", "/compute_pool_status/", routes.pools),
        ("GET", "/compute_pool_status/<pool>", routes.pool),
        ("GET", "/compute_cell_status/<pool>", routes.cells),
        ("GET", "/compute_cell_status/<pool>/", routes.cells),
        ("GET", "/compute_cell_status/<pool>/<cell>", routes.cell),
        ("GET", "/instance_status/<pool>", routes.pool_instances),
        ("GET", "/instance_status/<pool>/", routes.pool_instances),
        ("GET", "/instance_status/<pool>/<cell>", routes.cell_instances),
    ]


@attrs.define
class Totals:
    """Figures summed over Cells, for a Cell, a pool or the zone."""

    offline: int = 0
    online: int = 0
    instances: list = attrs.field(factory=lambda: [0, 0, 0, 0])
    busy_cores: float = 0.0
    cores: int = 0
    available_memory: int = 0
    memory: int = 0
    available_disk: int = 0
    disk: int = 0

    def add(self, live) -> None:
        """
        Add one Cell, given as its :class:`~nano.core._cluster.LiveCell`
        or ``None`` when it has not connected since Core started.
        """
        if live is None or not live.alive:
            self.offline += 1
        else:
            self.online += 1
        if live is None:
            return
        for index, count in enumerate(live.instance_counts()):
            self.instances[index] += count
        report = live.report
        if live.alive and report is not None:
            self.busy_cores += report.cpu_load * report.cores
            self.cores += report.cores
            self.available_memory += report.memory_available
            self.memory += report.memory
            self.available_disk += report.disk_available
            self.disk += report.disk

    def json(self) -> dict:
        """Return the figures under Nano 1.x's names."""
        usage = 100 * self.busy_cores / self.cores if self.cores else 0.0
        figures = {
            "cells": [self.offline, self.online],
            "instances": list(self.instances),
            "cpu_usage": round(usage, 2),
            "max_cpu": self.cores,
            "available_memory": self.available_memory,
            "max_memory": self.memory,
            "available_disk": self.available_disk,
            "max_disk": self.disk,
        }
        # TODO: fill the speeds once Cells report disk and network
        # counters; CellStatusReport carries none yet.
        figures.update(dict.fromkeys(_SPEEDS, 0))
        return figures


def pool_totals(api) -> dict[str, Totals]:
    """Return the figures of each pool's Cells, in one pass over them."""
    totals = {name: Totals() for name in api.state.pools}
    for member in api.state.cells.values():
        if member.pool in totals:
            totals[member.pool].add(api.cluster.cell(member.name))
    return totals


class StatusRoutes:
    """The handlers of the status routes."""

    def __init__(self, api):
        self.api = api
        self.cluster = api.cluster

    def pools(self, body):
        """Return every pool's status, sorted by name."""
        pools = self.api.state.pools
        totals = pool_totals(self.api)
        return [
            self._pool_status(pools[name], totals[name])
            for name in sorted(pools)
        ]

    def pool(self, body, pool):
        """Return one pool's status."""
        found = find_pool(self.api.state, pool)
        totals = Totals()
        for member in self.api.state.cells_of(pool):
            totals.add(self.cluster.cell(member.name))
        return self._pool_status(found, totals)

    def cells(self, body, pool):
        """Return the status of each Cell of a pool, sorted by name."""
        find_pool(self.api.state, pool)
        return [
            self._cell_status(member)
            for member in self.api.state.cells_of(pool)
        ]

    def cell(self, body, pool, cell):
        """Return one Cell's status."""
        return self._cell_status(find_member(self.api.state, pool, cell))

    def pool_instances(self, body, pool):
        """Return the instances of every Cell of a pool."""
        find_pool(self.api.state, pool)
        instances = []
        for member in self.api.state.cells_of(pool):
            instances.extend(self._instances(member))
        return instances

    def cell_instances(self, body, pool, cell):
        """Return the instances of one Cell of a pool."""
        return self._instances(find_member(self.api.state, pool, cell))

    def _pool_status(self, pool, totals: Totals) -> dict:
        reply = {"name": pool.name, "enabled": pool.enabled}
        reply.update(totals.json())
        return reply

    def _cell_status(self, member) -> dict:
        live = self.cluster.cell(member.name)
        reply = cell_json(member.name, member.enabled, live)
        totals = Totals()
        totals.add(live)
        figures = totals.json()
        del figures["cells"]
        reply.update(figures)
        return reply

    def _instances(self, member) -> list:
        live = self.cluster.cell(member.name)
        if live is None:
            return []
        return [
            instance_json(instance, member, live.alive)
            for _, instance in sorted(live.instances.items())
        ]


def instance_json(instance: dict, member, alive: bool) -> dict:
    """
    Return an instance as the Cell describes it, in Nano 1.x's field
    names, with its ``state``, ``pool`` and ``cell`` added. The
    instances of an offline Cell are ``lost``.
    """
    state = instance.get("state") if alive else "lost"
    # NOTE: Nano 1.x's guest fields that Core keeps itself (auto_start,
    # system, addresses, create_time...) are not here: the Cells do not
    # report them, and Core does not store guests yet.
    return {
        "id": instance.get("id"),
        "name": instance.get("name"),
        "created": state != "creating",
        "running": state in RUNNING_STATES,
        "state": state,
        "cores": instance.get("cores"),
        "memory": instance.get("memory"),
        "disks": instance.get("disks"),
        "pool": member.pool,
        "cell": member.name,
    }
