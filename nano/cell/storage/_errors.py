"""Exceptions for volume operations."""


class StorageError(Exception):
    """
    A volume operation failed.

    :param message: what failed, on which path, and what to do.
    :param path: the file or directory concerned.
    """

    def __init__(self, message, path=None):
        super().__init__(message)
        self.message = message
        self.path = path


class InvalidVolume(StorageError, ValueError):
    """A volume name, size or image is not acceptable."""


class VolumeExists(StorageError):
    """A volume with that name exists already."""


class VolumeNotFound(StorageError):
    """No volume has that name."""


class StorageFull(StorageError):
    """The file system has no space left."""


class StorageUnwritable(StorageError):
    """The volume directory is missing, read-only or not permitted."""
