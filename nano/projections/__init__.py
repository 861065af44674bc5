"""
Projections: pure folds of journalled events into the state a process
reads.

A process reads its state from a :class:`LiveProjection`, which appends
each new event to the journal before folding it. Start-up loads the
newest snapshot and replays the journal after it (:func:`load`), and
:func:`compact` writes a snapshot so that the next start-up replays less.
"""

from ._live import LiveProjection
from ._load import compact, load
from ._projection import Projected, Projection, SnapshotFormatError, fold
from .cell import CellProjection
from .core import CoreProjection
from .guests import GuestProjection
from .images import ImageProjection

#: Every projection by name, for ``nano-journal --projection``.
PROJECTIONS: dict[str, Projection] = {
    projection.name: projection
    for projection in [
        CoreProjection(),
        CellProjection(),
        GuestProjection(),
        ImageProjection(),
    ]
}

__all__ = [
    "PROJECTIONS",
    "CellProjection",
    "CoreProjection",
    "GuestProjection",
    "ImageProjection",
    "LiveProjection",
    "Projected",
    "Projection",
    "SnapshotFormatError",
    "compact",
    "fold",
    "load",
]
