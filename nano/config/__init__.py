"""
Configuration files: small JSON objects under ``config/``.

Core, Cell and the fabric read their settings through :func:`load`, which
turns every problem into a :class:`ConfigError` naming the file, the key
and the fix, and write generated settings with :func:`write_atomic`.
"""

from ._json import ConfigError, load, require, write_atomic

__all__ = ["ConfigError", "load", "require", "write_atomic"]
