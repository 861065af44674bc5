"""
``nano-journal``: verify, dump, replay, compact and repair event journals.
"""

from ._main import main

__all__ = ["main"]
