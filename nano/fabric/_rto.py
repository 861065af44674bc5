"""The retransmission timeout, estimated as in RFC 6298."""

#: Clock granularity G of RFC 6298, in seconds.
GRANULARITY = 0.001


class RetransmitTimeout:
    """
    A smoothed round-trip time and the timeout derived from it.

    Callers feed only samples from segments that were sent once (Karn's
    rule), and call :meth:`back_off` when the timer expires; the next
    valid sample ends the backoff.
    """

    def __init__(self, initial: float, minimum: float, maximum: float):
        self._minimum = minimum
        self._maximum = maximum
        self._base = min(max(initial, minimum), maximum)
        self._backoff = 1
        self.srtt: float | None = None
        self.rttvar = 0.0

    @property
    def timeout(self) -> float:
        """The current timeout in seconds, backoff included."""
        return min(self._base * self._backoff, self._maximum)

    def sample(self, rtt: float) -> None:
        """Update the estimate with one measured round trip."""
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        base = self.srtt + max(GRANULARITY, 4 * self.rttvar)
        self._base = min(max(base, self._minimum), self._maximum)
        self._backoff = 1

    def back_off(self) -> None:
        """Double the timeout, up to the maximum."""
        if self._base * self._backoff < self._maximum:
            self._backoff *= 2
