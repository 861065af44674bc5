"""
The Cell's record of its instances: the live projection of its journal,
and the notices to Core that follow each journalled change.
"""

from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from nano.events import utc_time
from nano.events.cell import InstanceStarted, InstanceStopped
from nano.messages import InstanceStarted as StartedNotice
from nano.messages import InstanceStopped as StoppedNotice


class InstanceBook:
    """
    Journals instance events, and notifies Core of power changes once
    they are on disk (persist first, then act).

    :param live: the :class:`~nano.projections.LiveProjection` of the
        Cell's journal.
    :param clock: gives the events' times.
    :param notify: ``notify(message)`` sends a message to Core if it is
        connected, and drops it otherwise.
    :param cell: the Cell's name, put in notices.
    """

    log = Logger()

    def __init__(self, live, clock, notify, cell):
        self._live = live
        self._clock = clock
        self.notify = notify
        self.cell = cell
        self._locks = {}
        # The power state being recorded and its Deferred, per instance,
        # so a libvirt event and a handler do not both journal a change.
        self._power = {}

    def get(self, instance_id):
        """Return the journalled instance, or ``None``."""
        return self._live.current.state.instances.get(instance_id)

    def instances(self):
        """Return every journalled instance, sorted by id."""
        instances = self._live.current.state.instances
        return [instances[id_] for id_ in sorted(instances)]

    def record(self, event_type, instance_id, task_id=None, **fields):
        """
        Journal one event about an instance.

        :return: a Deferred that fires once it is on disk and folded.
        """
        event = event_type(
            aggregate_id=instance_id,
            time=utc_time(self._clock.seconds()),
            task_id=task_id,
            **fields,
        )
        self._power.pop(instance_id, None)
        return self._live.record(event)

    def snapshot(self):
        """
        Write a snapshot of the instances, so that the next start replays
        only the events after it.

        :return: the snapshot's path, or ``None`` for an empty journal.
        :raises OSError: the snapshot could not be written.
        """
        if self._live.current.position == 0:
            return None
        return self._live.compact()

    def lock(self, instance_id):
        """Return the lock that serialises the operations on an instance."""
        lock = self._locks.get(instance_id)
        if lock is None:
            lock = self._locks[instance_id] = DeferredLock()
        return lock

    def unlock(self, instance_id, lock):
        """
        Release an instance's lock, and forget it once the instance is
        gone and no one waits for it, so locks do not pile up.
        """
        lock.release()
        if not lock.locked and self.get(instance_id) is None:
            self._locks.pop(instance_id, None)

    def power(self, instance_id, state, reason=None, task_id=None):
        """
        Journal that an instance is now ``running`` or ``stopped``, unless
        that is its state already, then tell Core.

        :return: a Deferred that fires once it is journalled.
        """
        instance = self.get(instance_id)
        if instance is None or instance.state in ("creating", "deleting"):
            return succeed(None)
        pending = self._power.get(instance_id)
        if pending is not None and pending[0] == state:
            return _when_done(pending[1])
        if pending is None and instance.state == state:
            return succeed(None)
        if state == "running":
            event = InstanceStarted(
                aggregate_id=instance_id,
                time=utc_time(self._clock.seconds()),
                task_id=task_id,
            )
            notice = StartedNotice(cell=self.cell, instance_id=instance_id)
        else:
            reason = reason or "unknown"
            event = InstanceStopped(
                aggregate_id=instance_id,
                time=utc_time(self._clock.seconds()),
                task_id=task_id,
                reason=reason,
            )
            notice = StoppedNotice(
                cell=self.cell, instance_id=instance_id, reason=reason
            )
        recorded = self._live.record(event)
        self._power[instance_id] = (state, recorded)
        recorded.addBoth(self._forget_power, instance_id, recorded)
        recorded.addCallback(lambda _: self.notify(notice))
        return _when_done(recorded)

    def _forget_power(self, result, instance_id, recorded):
        pending = self._power.get(instance_id)
        if pending is not None and pending[1] is recorded:
            del self._power[instance_id]
        return result


def _when_done(deferred):
    """
    Return a new Deferred that fires with ``None`` once ``deferred`` has
    a result, or fails with its failure, which it takes over.
    """
    done = Deferred()

    def fire(result):
        if isinstance(result, Failure):
            done.errback(result)
            return None
        done.callback(None)
        return result

    deferred.addBoth(fire)
    return done
