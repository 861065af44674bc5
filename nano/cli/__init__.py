"""
``nano``, the command-line client of Core's REST API: images, pools,
Cells, guests and instances, with signed requests and progress bars.
"""

from ._main import cli, main

__all__ = ["cli", "main"]
