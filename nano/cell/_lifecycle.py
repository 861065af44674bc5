"""
Domain lifecycle events from libvirt, turned into journalled power
changes of the Cell's instances, and the comparison of the journal with
what libvirt runs after a restart or a reconnection.
"""

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from nano.cell.libvirt import DomainNotFound, DomainState, LifecycleEvent
from nano.events.cell import InstanceCreateFailed, InstanceLost

from ._handlers import EXPECTED
from ._instances import DOMAIN_PREFIX, domain_name

#: Instance states that a running request owns: events do not change them.
_BUSY = ("creating", "deleting")


class Lifecycle:
    """
    Follows libvirt for the Cell's instances.

    :param book: the :class:`~nano.cell._book.InstanceBook`.
    :param host: the :class:`~nano.cell.libvirt.Host`.
    :param handlers: the :class:`~nano.cell._handlers.InstanceHandlers`,
        whose removal a restart uses to finish or roll back.
    :ivar unknown_domains: names of domains that look like Nano's but
        are not journalled, as of the last reconciliation.
    """

    log = Logger()

    def __init__(self, book, host, handlers):
        self._book = book
        self._host = host
        self._handlers = handlers
        self.unknown_domains = []

    def domain_event(self, event):
        """
        Journal the state a :class:`DomainEvent` announces, once the
        request running on the instance, if any, is done.

        Events can arrive late and out of order (libvirt sends RESUMED
        before STARTED, and the host delays STOPPED), so an event is
        journalled only if libvirt still reports the state it announces
        when the event is applied.
        """
        if self._book.get(event.uuid) is None:
            return
        applying = self._book.lock(event.uuid).run(
            lambda: Deferred.fromCoroutine(self._apply(event))
        )
        applying.addErrback(
            lambda failure: self.log.failure(
                "Could not journal the {kind} event of instance {id}",
                failure,
                kind=event.kind.value,
                id=event.uuid,
            )
        )

    async def _apply(self, event):
        instance = self._book.get(event.uuid)
        if instance is None or instance.state in _BUSY:
            return
        try:
            guest = await self._host.lookup(domain_name(instance.id))
            state = await guest.state()
        except DomainNotFound:
            if instance.state != "lost":
                await self._book.record(
                    InstanceLost, instance.id, reason="undefined outside Nano"
                )
            return
        if _announces(event, state):
            await self._record_state(instance, state, _stop_reason(event))

    async def _record_state(self, instance, state, reason):
        if state in (DomainState.RUNNING, DomainState.PAUSED):
            await self._book.power(instance.id, "running")
        elif state is DomainState.CRASHED:
            await self._book.power(instance.id, "stopped", "crashed")
        elif state is DomainState.STOPPED:
            await self._book.power(instance.id, "stopped", reason)

    async def reconcile(self, startup=False):
        """
        Compare the journal with libvirt's domains and journal the
        differences.

        :param startup: also finish the deletes and roll back the creates
            that a restart cut short; only safe before requests run.
        """
        statuses = await self._host.domain_states()
        by_uuid = {status.uuid: status for status in statuses}
        for instance in self._book.instances():
            if instance.state in _BUSY:
                if startup:
                    await self._finish_quietly(instance)
                continue
            await self._compare(instance, by_uuid.get(instance.id))
        self._find_unknown(statuses)

    async def _finish_quietly(self, instance):
        # One instance that cannot be cleaned up must not keep the Cell
        # from serving the others; a delete of it tries again.
        try:
            await self._finish(instance)
        except EXPECTED as error:
            self.log.error(
                "Could not finish the {state} of instance {id} after the "
                "restart: {error}; delete the instance to try again",
                state="delete" if instance.state == "deleting" else "create",
                id=instance.id,
                error=str(error),
            )

    async def _finish(self, instance):
        await self._handlers.remove(instance, instance.task_id)
        if instance.state == "deleting":
            await self._handlers.finish_delete(instance, instance.task_id)
            return
        await self._book.record(
            InstanceCreateFailed,
            instance.id,
            instance.task_id,
            error="the Cell restarted during the create",
        )
        self.log.warn(
            "Rolled back instance {id}, whose create a restart cut short",
            id=instance.id,
        )

    async def _compare(self, instance, status):
        if status is None:
            if instance.state != "lost":
                self.log.warn(
                    "Instance {id} has no libvirt domain: marked lost",
                    id=instance.id,
                )
                await self._book.record(
                    InstanceLost, instance.id, reason="no libvirt domain"
                )
            return
        await self._record_state(instance, status.state, "unknown")

    def _find_unknown(self, statuses):
        unknown = sorted(
            status.name
            for status in statuses
            if status.name.startswith(DOMAIN_PREFIX)
            and self._book.get(status.uuid) is None
        )
        for name in unknown:
            if name not in self.unknown_domains:
                self.log.warn(
                    "Domain {name} looks like a Nano instance but is not in "
                    "the Cell's journal; it is left alone",
                    name=name,
                )
        self.unknown_domains = unknown


def _announces(event, state):
    """Return whether ``event`` announced the domain's current state."""
    if event.kind in (LifecycleEvent.STARTED, LifecycleEvent.RESUMED):
        return state in (DomainState.RUNNING, DomainState.PAUSED)
    if event.kind in (LifecycleEvent.STOPPED, LifecycleEvent.CRASHED):
        return state in (DomainState.STOPPED, DomainState.CRASHED)
    return False


def _stop_reason(event):
    """Return why a domain stopped, as far as ``event`` shows it."""
    if event.kind is LifecycleEvent.CRASHED:
        return "crashed"  # libvirt's detail is crashed or failed
    if event.kind is LifecycleEvent.STOPPED and event.reason is not None:
        return event.reason
    return "unknown"
