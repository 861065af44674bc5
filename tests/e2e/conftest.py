"""Fixtures of the end-to-end tests: real processes, libvirtd and QEMU."""

import pytest

from .guest_helpers import CELL, join_pool
from .processes import Cell, Core


@pytest.fixture
def cluster(tmp_path, private_libvirtd):
    """Core and one Cell, the Cell in pool ``p``, both running."""
    core = Core(tmp_path)
    cell = Cell(tmp_path, CELL, private_libvirtd.uri, core)
    try:
        core.start()
        cell.start()
        join_pool(core)
        yield core, cell, private_libvirtd.uri
    finally:
        cell.kill()
        core.kill()
        private_libvirtd.remove_domains()
