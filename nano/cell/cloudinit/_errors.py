"""Exceptions for building seed ISOs."""


class SeedError(Exception):
    """
    A seed ISO could not be built or written.

    :param message: what failed, on which value or path, and what to do.
    :param path: the file concerned, if any.
    """

    def __init__(self, message, path=None):
        super().__init__(message)
        self.message = message
        self.path = path


class InvalidSeed(SeedError, ValueError):
    """A setting for the seed is invalid, so nothing was written."""
