"""
Domain lifecycle events in Nano's terms, and their delivery to listeners
on the reactor thread.
"""

import attrs
from twisted.logger import Logger

from ._constants import LifecycleEvent, lifecycle_event, stop_reason


@attrs.frozen
class DomainEvent:
    """
    A lifecycle change of one domain.

    :ivar name: the domain name.
    :ivar uuid: the domain UUID, lower-case with dashes.
    :ivar kind: what happened.
    :ivar reason: why a stopped domain stopped (``"shutdown"``,
        ``"destroyed"``, ``"crashed"``...), ``None`` for other events.
    """

    name: str
    uuid: str
    kind: LifecycleEvent
    reason: str | None = None


def domain_event(name, uuid, code, detail):
    """
    Build a :class:`DomainEvent` from libvirt's event numbers.

    :return: the event, or ``None`` for an event type Nano does not know.
    """
    kind = lifecycle_event(code, detail)
    if kind is None:
        return None
    return DomainEvent(name, uuid.lower(), kind, stop_reason(code, detail))


class EventDispatcher:
    """
    Deliver domain events to listeners, holding each STOPPED event back
    for ``stop_delay`` seconds.

    A STARTED event for the same domain within that time means the domain
    was restarted (a reboot done as destroy and start), so the STOPPED event
    is dropped and listeners never see the domain as stopped. Any other
    event for the domain delivers the held STOPPED event first, so the
    order of events is kept.

    :param clock: an ``IReactorTime`` for the delay.
    :param stop_delay: seconds to hold a STOPPED event.
    """

    log = Logger()

    def __init__(self, clock, stop_delay):
        self._clock = clock
        self._stop_delay = stop_delay
        self._listeners = []
        self._pending_stops = {}

    def add_listener(self, listener):
        """
        Call ``listener(event)`` with every :class:`DomainEvent` delivered.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener):
        """Stop calling a listener added with :meth:`add_listener`."""
        self._listeners.remove(listener)

    def receive(self, event):
        """Take one event from libvirt, on the reactor thread."""
        pending = self._pending_stops.pop(event.uuid, None)
        if pending is not None:
            pending_call, pending_event = pending
            pending_call.cancel()
            if event.kind is LifecycleEvent.STARTED:
                self.log.debug(
                    "domain {name} restarted within {delay} s",
                    name=event.name,
                    delay=self._stop_delay,
                )
            else:
                self._deliver(pending_event)
        if event.kind is LifecycleEvent.STOPPED:
            self._hold(event)
        else:
            self._deliver(event)

    def discard_held(self):
        """Drop the held STOPPED events, when the host stops."""
        for call, _ in self._pending_stops.values():
            call.cancel()
        self._pending_stops.clear()

    def _hold(self, event):
        call = self._clock.callLater(
            self._stop_delay, self._release, event.uuid
        )
        self._pending_stops[event.uuid] = (call, event)

    def _release(self, uuid):
        _, event = self._pending_stops.pop(uuid)
        self._deliver(event)

    def _deliver(self, event):
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                self.log.failure(
                    "event listener {listener!r} failed on {event!r}",
                    listener=listener,
                    event=event,
                )
