"""
Domain lifecycle events from libvirt, turned into journalled power
changes of the Cell's instances, and the comparison of the journal with
what libvirt runs after a restart or a reconnection.
"""

from twisted.logger import Logger

from nano.cell.libvirt import DomainState, LifecycleEvent
from nano.events.cell import InstanceCreateFailed, InstanceLost

from ._instances import DOMAIN_PREFIX

_RUNNING_EVENTS = (LifecycleEvent.STARTED, LifecycleEvent.RESUMED)
_STOPPED_EVENTS = (LifecycleEvent.STOPPED, LifecycleEvent.CRASHED)
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
        """Journal the power change a :class:`DomainEvent` shows."""
        instance = self._book.get(event.uuid)
        if instance is None or instance.state in _BUSY:
            return
        if event.kind in _RUNNING_EVENTS:
            recording = self._book.power(instance.id, "running")
        elif event.kind in _STOPPED_EVENTS:
            reason = event.reason or "unknown"
            if event.kind is LifecycleEvent.CRASHED:
                reason = "crashed"  # libvirt says crashed or failed
            recording = self._book.power(instance.id, "stopped", reason)
        elif event.kind is LifecycleEvent.UNDEFINED:
            recording = self._book.record(
                InstanceLost, instance.id, reason="undefined outside Nano"
            )
        else:
            return
        recording.addErrback(
            lambda failure: self.log.failure(
                "Could not journal the {kind} event of instance {id}",
                failure,
                kind=event.kind.value,
                id=instance.id,
            )
        )

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
                    await self._finish(instance)
                continue
            await self._compare(instance, by_uuid.get(instance.id))
        self._find_unknown(statuses)

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
        elif status.state in (DomainState.RUNNING, DomainState.PAUSED):
            await self._book.power(instance.id, "running")
        elif status.state is DomainState.CRASHED:
            await self._book.power(instance.id, "stopped", "crashed")
        elif status.state is DomainState.STOPPED or instance.state == "lost":
            await self._book.power(instance.id, "stopped", "unknown")

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
