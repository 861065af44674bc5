"""Reject datagrams whose packet number was already seen."""


class ReplayWindow:
    """
    A sliding window over packet numbers, as in IPsec (RFC 4303, 3.4.3).

    A number is accepted once; numbers more than ``size`` below the
    highest accepted one are rejected as too old. Packet numbers start
    at 1, and 0 is never valid.
    """

    def __init__(self, size: int = 1024):
        self._size = size
        self._mask = (1 << size) - 1
        self._highest = 0
        self._seen = 0

    def accept(self, number: int) -> bool:
        """Return whether ``number`` is new, and remember it if so."""
        if number > self._highest:
            shift = number - self._highest
            self._seen = ((self._seen << shift) | 1) & self._mask
            self._highest = number
            return True
        offset = self._highest - number
        if number == 0 or offset >= self._size:
            return False
        bit = 1 << offset
        if self._seen & bit:
            return False
        self._seen |= bit
        return True
