"""Count dropped datagrams and log them at a bounded rate."""

from collections import Counter

from twisted.logger import Logger

#: Seconds between two log lines for the same drop reason.
LOG_INTERVAL = 10.0


class DropCounter:
    """
    Counts of dropped datagrams by reason, and their log lines.

    The first drop of a reason is logged at once, later ones at most one
    line per reason every :data:`LOG_INTERVAL` seconds, with the number
    dropped since the last line and the latest address.

    :param direction: ``from`` for received datagrams, ``to`` for
        datagrams that could not be sent, as the log line reads.
    """

    log = Logger()

    def __init__(self, clock, direction="from"):
        self._clock = clock
        self._direction = direction
        self.counts: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def drop(self, reason: str, address) -> None:
        """Count one dropped datagram from ``address``."""
        self.counts[reason] += 1
        self._unlogged[reason] += 1
        now = self._clock.seconds()
        last = self._logged_at.get(reason)
        if last is not None and now - last < LOG_INTERVAL:
            return
        self._logged_at[reason] = now
        self.log.warn(
            "Dropped {count} datagram(s) ({reason}), latest {direction} "
            "{address}; {total} in total for this reason",
            count=self._unlogged.pop(reason),
            reason=reason,
            direction=self._direction,
            address=_format(address),
            total=self.counts[reason],
        )


def _format(address):
    if isinstance(address, tuple) and len(address) == 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
