"""
libvirt's domain states and lifecycle events, mapped to Nano's names.

This is the one place that maps them. The numbers are those of libvirt's
``virDomainState``, ``virDomainEventType`` and
``virDomainEventStoppedDetailType`` enums, which keep their values across
libvirt releases. They are written out so that the mapping works without
the libvirt module, and :mod:`nano.testing.fake_libvirt` uses the same
numbers.
"""

import enum


class DomainState(enum.Enum):
    """The power state of a domain, as Nano names it."""

    UNKNOWN = "unknown"
    RUNNING = "running"
    PAUSED = "paused"
    SHUTTING_DOWN = "shutting-down"
    STOPPED = "stopped"
    CRASHED = "crashed"
    SUSPENDED = "suspended"


class LifecycleEvent(enum.Enum):
    """A change of a domain's existence or power state."""

    DEFINED = "defined"
    UNDEFINED = "undefined"
    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"
    SHUT_DOWN = "shut-down"
    SUSPENDED = "suspended"
    CRASHED = "crashed"


# virDomainState
_STATES = {
    0: DomainState.UNKNOWN,
    1: DomainState.RUNNING,
    2: DomainState.RUNNING,  # blocked on a resource: still running
    3: DomainState.PAUSED,
    4: DomainState.SHUTTING_DOWN,
    5: DomainState.STOPPED,
    6: DomainState.CRASHED,
    7: DomainState.SUSPENDED,
}

# virDomainEventType
_EVENTS = {
    0: LifecycleEvent.DEFINED,
    1: LifecycleEvent.UNDEFINED,
    2: LifecycleEvent.STARTED,
    3: LifecycleEvent.PAUSED,
    4: LifecycleEvent.RESUMED,
    5: LifecycleEvent.STOPPED,
    6: LifecycleEvent.SHUT_DOWN,
    7: LifecycleEvent.SUSPENDED,
    8: LifecycleEvent.CRASHED,
}

# virDomainEventStoppedDetailType: why a domain stopped
_STOP_REASONS = {
    0: "shutdown",
    1: "destroyed",
    2: "crashed",
    3: "migrated",
    4: "saved",
    5: "failed",
    6: "from-snapshot",
}

STOPPED_EVENT = 5
STOPPED_CRASHED_DETAILS = frozenset({2, 5})


def domain_state(code: int) -> DomainState:
    """
    Map a ``virDomainState`` number to a :class:`DomainState`.

    Numbers added by a newer libvirt map to :attr:`DomainState.UNKNOWN`.
    """
    return _STATES.get(code, DomainState.UNKNOWN)


def lifecycle_event(code: int, detail: int) -> LifecycleEvent | None:
    """
    Map a lifecycle event number and its detail to a
    :class:`LifecycleEvent`.

    A domain that stopped because QEMU crashed or failed is reported as
    :attr:`LifecycleEvent.CRASHED`. Event numbers added by a newer libvirt
    map to ``None``, and the caller ignores them.
    """
    if code == STOPPED_EVENT and detail in STOPPED_CRASHED_DETAILS:
        return LifecycleEvent.CRASHED
    return _EVENTS.get(code)


def stop_reason(code: int, detail: int) -> str | None:
    """
    Return why a domain stopped, such as ``"destroyed"``, for a stopped
    event, and ``None`` for every other event.
    """
    if code != STOPPED_EVENT:
        return None
    return _STOP_REASONS.get(detail, "unknown")
