"""
Volumes on the Cell's local disk: one qcow2 system volume per instance.
"""

from ._directories import closed_directory, make_passable_directory
from ._errors import (
    InvalidVolume,
    StorageError,
    StorageFull,
    StorageUnwritable,
    VolumeExists,
    VolumeNotFound,
)
from ._local import LocalStorage, VolumeInfo

__all__ = [
    "InvalidVolume",
    "LocalStorage",
    "StorageError",
    "StorageFull",
    "StorageUnwritable",
    "VolumeExists",
    "VolumeInfo",
    "VolumeNotFound",
    "closed_directory",
    "make_passable_directory",
]
