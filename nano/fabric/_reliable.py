"""
Reliable, ordered delivery of messages over numbered datagrams.

Messages are written into a byte stream, each behind a 4-byte length,
and the stream is cut into segments of at most ``max_payload`` bytes,
one per DATA datagram. So small messages sent together share datagrams
and a large message spans as many as it needs (fragmentation). The
receiver joins segments in sequence order and cuts the messages out
again (reassembly). This module does no I/O and reads no clock: the
connection passes the time in and sends what it returns.
"""

import struct

from ._rto import RetransmitTimeout

LENGTH = struct.Struct("!I")
SACK_BITS = 64
#: Congestion window, in segments, at the start and after a timeout.
INITIAL_CONGESTION = 32
MIN_CONGESTION = 16
#: The congestion window is multiplied by this after a loss, as in CUBIC
#: (RFC 9438). It is gentler than Reno's halving because the fabric runs
#: on LANs, where a lost datagram is more often noise than congestion.
LOSS_FACTOR = 0.7
#: Seconds a segment may arrive late before it counts as lost when a
#: later one was acked (on top of a quarter of the smoothed RTT).
REORDER_WINDOW = 0.001
#: A timer may fire this many seconds before its deadline, when floating
#: point rounds ``sent_at + timeout`` down.
TIMER_SLACK = 1e-6


class ProtocolError(Exception):
    """The peer broke the protocol; the connection must be dropped."""


class _Segment:
    __slots__ = ("payload", "retransmitted", "sent_at")

    def __init__(self, payload: bytes, sent_at: float):
        self.payload = payload
        self.sent_at = sent_at
        self.retransmitted = False


class Sender:
    """
    The sending half: queued bytes, segments in flight, retransmission.

    Two limits bound the segments in flight. The flow-control window
    counts from the oldest unacknowledged segment, because the receiver
    accepts the same range. The congestion window, in segments, grows
    as in TCP (RFC 5681) up to ``max_in_flight_bytes`` and shrinks when
    a loss is detected, so that a burst does not overflow the peer's
    socket buffer over and over.

    :param window: the flow-control window, in segments.
    :param max_in_flight_bytes: the most payload bytes in flight.
    """

    def __init__(
        self,
        max_payload: int,
        window: int,
        max_message: int,
        rto: RetransmitTimeout,
        max_in_flight_bytes: int = 2 * 1024 * 1024,
    ):
        self._max_payload = max_payload
        self._window = window
        self._max_congestion = max(
            MIN_CONGESTION, min(window, max_in_flight_bytes // max_payload)
        )
        self.congestion = min(INITIAL_CONGESTION, self._max_congestion)
        self._threshold = self._max_congestion
        self._recovery_until = 0
        self._max_message = max_message
        self.rto = rto
        self._unsent = bytearray()
        self.next_seq = 1
        self.acked_below = 1
        self.in_flight: dict[int, _Segment] = {}

    def queue(self, message: bytes) -> None:
        """
        Append one message to the stream.

        :raises ValueError: the message exceeds ``max_message``.
        """
        # NOTE: bytes waiting for the window are not bounded; a caller that
        # sends faster than the peer acknowledges keeps them all in memory.
        if len(message) > self._max_message:
            raise ValueError(
                f"message of {len(message)} bytes exceeds max_message "
                f"({self._max_message} bytes)"
            )
        self._unsent += LENGTH.pack(len(message))
        self._unsent += message

    @property
    def unsent(self) -> int:
        """Bytes queued but not yet cut into segments."""
        return len(self._unsent)

    @property
    def idle(self) -> bool:
        """Whether everything queued was sent and acknowledged."""
        return not self._unsent and not self.in_flight

    def take(self, now: float) -> list[tuple[int, bytes]]:
        """Cut new segments from the stream, as many as the window allows."""
        room = min(
            self.acked_below + self._window - self.next_seq,
            int(self.congestion) - len(self.in_flight),
        )
        unsent = self._unsent
        segments = []
        start = 0
        size = self._max_payload
        while room > 0 and start < len(unsent):
            payload = bytes(unsent[start : start + size])
            start += size
            seq = self.next_seq
            self.next_seq = seq + 1
            self.in_flight[seq] = _Segment(payload, now)
            segments.append((seq, payload))
            room -= 1
        del unsent[:start]
        return segments

    def acknowledge(self, ack: int, sack: int, now: float) -> list[int]:
        """
        Apply a cumulative and selective ack from the peer.

        The round-trip sample comes from the newest segment acked, and
        only if it was sent once (Karn's rule), so a segment that arrived
        long ago but is acked only now does not inflate the estimate.

        :return: sequence numbers to resend now: segments below one that
            was selectively acked, sent more than a smoothed round trip
            plus a reordering allowance ago (fast retransmit, after the
            time-based loss detection of RACK, RFC 8985).
        :raises ProtocolError: the ack covers segments never sent.
        """
        if ack > self.next_seq:
            raise ProtocolError(
                f"ack {ack} is beyond the next sequence number {self.next_seq}"
            )
        in_flight = self.in_flight
        before = len(in_flight)
        newest = None
        for seq in range(self.acked_below, ack):
            newest = in_flight.pop(seq, newest)
        self.acked_below = max(self.acked_below, ack)
        highest = 0
        while sack:
            low = sack & -sack
            sack ^= low
            highest = ack + low.bit_length()
            newest = in_flight.pop(highest, newest)
        if newest is not None and not newest.retransmitted:
            self.rto.sample(now - newest.sent_at)
        self._grow(before - len(in_flight))
        if not highest:
            return []
        holes = self._holes(ack, highest, now)
        if holes and holes[0] >= self._recovery_until:
            self._shrink(self.congestion * LOSS_FACTOR)
        return holes

    def _grow(self, acked):
        if self.congestion < self._threshold:
            self.congestion += acked
        else:
            self.congestion += acked / self.congestion
        self.congestion = min(self.congestion, self._max_congestion)

    def _shrink(self, congestion):
        self._threshold = max(MIN_CONGESTION, self.congestion / 2)
        self.congestion = max(MIN_CONGESTION, congestion)
        self._recovery_until = self.next_seq

    def _holes(self, start, stop, now):
        srtt = self.rto.srtt or 0.0
        wait = srtt + max(srtt / 4, REORDER_WINDOW)
        resend = []
        for seq in range(start, stop):
            segment = self.in_flight.get(seq)
            if segment is not None and now - segment.sent_at >= wait:
                resend.append(seq)
        return resend

    def expired(self, now: float, limit: int = 32) -> list[int]:
        """
        Return the oldest segments whose timeout has passed, at most
        ``limit``, for the retransmission timer.
        """
        deadline = now - self.rto.timeout + TIMER_SLACK
        expired = []
        for seq, segment in self.in_flight.items():
            if segment.sent_at <= deadline:
                expired.append(seq)
                if len(expired) == limit:
                    break
        if expired:
            self._shrink(MIN_CONGESTION)
        return expired

    def resend(self, seq: int, now: float) -> bytes:
        """Mark a segment as retransmitted and return its payload."""
        segment = self.in_flight[seq]
        segment.retransmitted = True
        segment.sent_at = now
        return segment.payload

    def next_deadline(self) -> float:
        """
        Return when the earliest-sent segment in flight times out.

        :raises ValueError: nothing is in flight.
        """
        sent_at = min(segment.sent_at for segment in self.in_flight.values())
        return sent_at + self.rto.timeout


class Receiver:
    """
    The receiving half: reorders segments and cuts messages out.

    :param window: segments accepted beyond the next expected one.
    """

    def __init__(self, window: int, max_message: int):
        self._window = window
        self._max_message = max_message
        self.next_seq = 1
        self._early: dict[int, bytes] = {}
        self._stream = bytearray()

    def receive(self, seq: int, payload: bytes) -> list[bytes] | None:
        """
        Take one segment.

        :return: the messages it completed, in order, or None when the
            segment is a duplicate or outside the window.
        :raises ProtocolError: a message exceeds ``max_message``.
        """
        if seq < self.next_seq or seq in self._early:
            return None
        if seq >= self.next_seq + self._window:
            return None
        if seq != self.next_seq:
            self._early[seq] = payload
            return []
        stream = self._stream
        stream += payload
        seq += 1
        early = self._early
        while seq in early:
            stream += early.pop(seq)
            seq += 1
        self.next_seq = seq
        return self._messages()

    def _messages(self):
        stream = self._stream
        messages = []
        start = 0
        end = len(stream)
        while end - start >= LENGTH.size:
            (size,) = LENGTH.unpack_from(stream, start)
            if size > self._max_message:
                raise ProtocolError(
                    f"message of {size} bytes exceeds max_message "
                    f"({self._max_message} bytes)"
                )
            if end - start - LENGTH.size < size:
                break
            begin = start + LENGTH.size
            messages.append(bytes(stream[begin : begin + size]))
            start = begin + size
        if start:
            del stream[:start]
        return messages

    @property
    def out_of_order(self) -> bool:
        """Whether segments wait for a missing one."""
        return bool(self._early)

    def ack_fields(self, bits: int = SACK_BITS) -> tuple[int, int]:
        """
        Return the cumulative ack and the selective-ack bitmap.

        :param bits: how many sequence numbers after the ack the bitmap
            covers: 64 fit in the header, the whole window in the payload
            of an ACK datagram.
        """
        sack = 0
        base = self.next_seq + 1
        for seq in self._early:
            offset = seq - base
            if offset < bits:
                sack |= 1 << offset
        return self.next_seq, sack
