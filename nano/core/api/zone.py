"""The zone status route: ``/api/v1/compute_zone_status/``."""

from datetime import UTC, datetime

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
    second, and ``start_time`` is Core's start in UTC.
    """
    pools = api.state.pools.values()
    enabled = sum(1 for pool in pools if pool.enabled)
    started = datetime.fromtimestamp(api.start_time, UTC)
    # TODO: fill cells, instances, CPU, memory, disk and speeds from the
    # Cells' reports once Core tracks Cells; until then they are 0.
    return {
        "name": ZONE_NAME,
        "pools": [len(pools) - enabled, enabled],
        "cells": [0, 0],
        "instances": [0, 0, 0, 0],
        "cpu_usage": 0.0,
        "max_cpu": 0,
        "available_memory": 0,
        "max_memory": 0,
        "available_disk": 0,
        "max_disk": 0,
        "read_speed": 0,
        "write_speed": 0,
        "receive_speed": 0,
        "send_speed": 0,
        "start_time": f"{started:%Y-%m-%d %H:%M:%S}",
    }
