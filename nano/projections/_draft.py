"""
Drafts: the changes that one fold makes to a pyrsistent map, gathered in
a dict and applied once at the end.
"""

from pyrsistent import PMap

# The value of a key that the fold removed; it never reaches a state.
_REMOVED = object()
# The default of dict.get() for a key that the fold has not changed.
_UNCHANGED = object()


class MapDraft:
    """
    A :class:`~pyrsistent.PMap` being changed by a fold.

    Replaying a journal changes the same keys over and over, and a dict
    update is far cheaper than a pyrsistent one. So the draft stores each
    change in a dict, and :meth:`persistent` updates the map once per
    changed key. The original map is never changed.
    """

    __slots__ = ("changes", "original")

    def __init__(self, original: PMap):
        self.original = original
        self.changes: dict = {}

    def __contains__(self, key) -> bool:
        change = self.changes.get(key, _UNCHANGED)
        if change is _UNCHANGED:
            return key in self.original
        return change is not _REMOVED

    def __setitem__(self, key, value) -> None:
        self.changes[key] = value

    def discard(self, key) -> None:
        """Remove ``key``, if the draft contains it."""
        if key in self:
            self.changes[key] = _REMOVED

    def persistent(self) -> PMap:
        """Return the changed map, or the original if nothing changed."""
        if not self.changes:
            return self.original
        evolver = self.original.evolver()
        for key, value in self.changes.items():
            if value is not _REMOVED:
                evolver[key] = value
            elif key in evolver:
                evolver.remove(key)
        return evolver.persistent()
