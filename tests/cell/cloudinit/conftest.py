"""The real-QEMU Cell and test Core of the Cell's own QEMU tests."""

from ..test_cell_qemu import cell, core

__all__ = ["cell", "core"]
