"""
Core's guests: their state, folded from Core's journal, and the create
saga that puts each one on a Cell.

A guest's id is also its instance id on the Cell. Creating a guest
records ``GuestCreateStarted`` with the Cell the scheduler chose, then
runs the saga: reserve (the choice), create (volumes and domain on the
Cell), and start when asked. When the guest's compute pool has an
address pool, an "address" step allocates the guest's address before
"create", and its compensation releases it. A saga cut short, here or
by a restart of Core, is rolled back: Core sends the Cell a delete
request for the instance, which succeeds even for an instance the Cell
never created.
"""

import os
import uuid

import attrs
from twisted.internet.defer import Deferred, DeferredLock, maybeDeferred

from nano.events import utc_time
from nano.events.guests import (
    GuestAuthChanged,
    GuestAutoStartChanged,
    GuestCoresChanged,
    GuestCreated,
    GuestCreateFailed,
    GuestCreateStarted,
    GuestCreateStepDone,
    GuestDeleted,
    GuestMemoryChanged,
    GuestRenamed,
    GuestRolledBack,
)
from nano.fabric import (
    PeerClosed,
    PeerDisconnected,
    RemoteError,
    RequestTimeout,
)
from nano.messages import (
    TEMPLATE_KEYS,
    CreateInstanceRequest,
    DeleteInstanceRequest,
    EjectMediaRequest,
    InsertMediaRequest,
    ModifyInstanceRequest,
    StartInstanceRequest,
)
from nano.projections import load
from nano.projections.guests import (
    FAILED,
    ROLLED_BACK,
    UNFINISHED,
    GuestProjection,
)

from ._logging import core_logger
from ._saga import Saga, Step, steps_done
from ._scheduler import MAX_CPU_LOAD, Demand, select_cell

#: Seconds Core waits for a Cell to create an instance's volumes and
#: domain; a copy of a large image takes a while.
CREATE_TIMEOUT = 120.0
#: Seconds Core waits for a Cell to start, stop or delete an instance.
POWER_TIMEOUT = 30.0
#: Seconds Core waits for a request that makes the Cell download an
#: image first: an estimate for images of a few GiB on a LAN.
DOWNLOAD_TIMEOUT = 600.0
#: The errors of a request to which a Cell did not, or could not, reply.
CELL_ERRORS = (
    PeerClosed,
    PeerDisconnected,
    RemoteError,
    RequestTimeout,
)
RESTARTED = "Core restarted before the guest was created"


class CellUnavailable(Exception):
    """The guest's Cell is not connected to Core."""


class ImageUnavailable(Exception):
    """
    An image cannot be given to a Cell: it is unknown, has no file yet,
    or Core has no image service. The message names the image and why.
    """


def random_mac() -> str:
    """Return a random MAC address in QEMU's ``52:54:00`` range."""
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in os.urandom(3))


def _no_images(kind: str, image_id: str) -> dict:
    raise ImageUnavailable(
        f"{kind} image {image_id!r} cannot be used: Core has no image service"
    )


class Guests:
    """
    The guests in Core's journal, and their running create sagas.

    :param live: Core's :class:`~nano.projections.LiveProjection`;
        guest events are recorded through it, so that they are on disk
        before this state changes.
    :param cluster: the :class:`~nano.core._cluster.Cluster` of Cells.
    :ivar state: guests by id, a :class:`~pyrsistent.PMap` of
        :class:`~nano.projections.guests.Guest`.
    :param image_reference: ``image_reference(kind, image_id)`` returns
        the image reference a Cell downloads the image with (see
        ``docs/messages.md``), or raises :class:`ImageUnavailable`. The
        reference may carry ``virtual_size``, the disk size in bytes
        that the guest gets.
    :param addresses: the :class:`~nano.core._addresses.Addresses`
        allocator, or ``None`` for guests with no managed address.
    :ivar sagas: the running sagas by guest id.
    :ivar max_cpu_load: a Cell busier than this share of its cores gets
        no new guest (``--max-cpu-load``).
    """

    log = core_logger()

    def __init__(
        self,
        live,
        cluster,
        clock,
        make_id=None,
        image_reference=None,
        addresses=None,
    ):
        self.live = live
        self.cluster = cluster
        self.clock = clock
        self.make_id = make_id or (lambda: str(uuid.uuid4()))
        self.make_mac = random_mac
        self.image_reference = image_reference or _no_images
        self.addresses = addresses
        self.projection = GuestProjection()
        # NOTE: Core writes snapshots of its core projection only, so
        # this replays the whole journal at each start.
        self.state = load(self.projection, live.journal).state
        self.sagas: dict[str, Saga] = {}
        self._change_locks: dict[str, DeferredLock] = {}
        self.max_cpu_load = MAX_CPU_LOAD

    def stop(self) -> None:
        """Stop every saga, as Core stops; its next start rolls them back."""
        for saga in self.sagas.values():
            saga.stop()

    def record(self, event) -> Deferred:
        """Append ``event`` to Core's journal, then fold it here."""
        recorded = self.live.record(event)
        return recorded.addCallback(self._fold, event)

    def _fold(self, projected, event):
        self.state = self.projection.apply(self.state, event)
        return projected

    def now(self):
        """Return the clock's time as an event time."""
        return utc_time(self.clock.seconds())

    # Creation.

    def new_mac(self) -> str:
        """Return a random MAC address that no other guest has."""
        taken = {guest.mac for guest in self.state.values()}
        mac = self.make_mac()
        while mac in taken:
            mac = self.make_mac()
        return mac

    def choose_cell(self, pool: str, demand: Demand) -> str:
        """
        Return the Cell of ``pool`` that the scheduler picks, counting
        the guests being created as using their Cell's resources.

        :raises NoCellFits: with each Cell's reason.
        """
        reserved = self._reserved(pool)
        candidates = [
            _with_reserved(candidate, reserved.get(candidate.name))
            for candidate in self.cluster.candidates(pool)
        ]
        chosen = select_cell(pool, candidates, demand, self.max_cpu_load)
        return chosen.name

    def _reserved(self, pool: str) -> dict:
        """
        Return the cores, memory and disk, by Cell, of the guests of
        ``pool`` that their Cell's instance list does not have yet.
        """
        reserved = {}
        for guest in self.state.values():
            if guest.pool != pool or guest.status == ROLLED_BACK:
                continue
            cell = self.cluster.cell(guest.cell)
            if cell is not None and guest.id in cell.instances:
                continue
            cores, memory, disk = reserved.get(guest.cell, (0, 0, 0))
            reserved[guest.cell] = (
                cores + guest.cores,
                memory + guest.memory,
                disk + sum(guest.disks),
            )
        return reserved

    def create(self, guest_id: str, credentials=None, **config) -> Deferred:
        """
        Record the start of a guest's creation, then start its saga.

        :param credentials: ``(admin name, password)`` for the guest's
            cloud-init seed, recorded as a
            :class:`~nano.events.guests.GuestAuthChanged`, or None.
        :param config: the fields of
            :class:`~nano.events.guests.GuestCreateStarted`.
        :return: a Deferred that fires once the start is on disk; the
            saga runs on after it.
        """
        event = GuestCreateStarted(
            aggregate_id=guest_id,
            time=self.now(),
            task_id=self.make_id(),
            **config,
        )
        recorded = self.record(event)
        if credentials is not None:
            name, secret = credentials
            auth = GuestAuthChanged(
                aggregate_id=guest_id,
                time=event.time,
                task_id=event.task_id,
                admin_name=name,
                admin_secret=secret,
            )
            recorded.addCallback(lambda _: self.record(auth))
        return recorded.addCallback(lambda _: self._run(guest_id))

    def _run(self, guest_id: str) -> None:
        saga = self._saga(guest_id)
        self.sagas[guest_id] = saga
        running = saga.run()
        running.addBoth(self._ended, guest_id)

    def _ended(self, status, guest_id):
        self.sagas.pop(guest_id, None)
        self.log.info(
            "Create saga of guest {guest} ended: {status}",
            guest=guest_id,
            status=status,
        )
        guest = self.state.get(guest_id)
        if guest is not None and guest.status == ROLLED_BACK:
            self._release(guest_id)

    def _saga(self, guest_id: str) -> Saga:
        guest = self.state[guest_id]
        steps = [
            Step("reserve", lambda: None),
            Step(
                "create",
                lambda: self._create_instance(guest),
                lambda: self.delete_instance(guest),
            ),
        ]
        steps[1:1] = self._address_steps(guest)
        if guest.auto_start:
            steps.append(Step("start", lambda: self.start_instance(guest)))
        journal = _GuestSagaLog(self, guest_id, guest.task_id)
        return Saga(f"guest {guest_id}", steps, journal, self.clock)

    def _address_steps(self, guest) -> list[Step]:
        """
        Return the "address" step, if the guest's compute pool has an
        address pool.

        A saga that recorded steps keeps the "address" step only if it
        recorded that step, whatever the pool's network is now. So a
        saga cut short after "reserve" alone is rolled back without it,
        and "create", which may have been running, is compensated. The
        address, if any, is released when the rollback ends.
        """
        if self.addresses is None:
            return []
        if guest.steps and "address" not in guest.steps:
            return []
        pool = self.live.current.state.pools.get(guest.pool)
        if not guest.steps and (pool is None or pool.network is None):
            return []
        return [
            Step(
                "address",
                lambda: self.addresses.allocate(
                    pool.network, guest.id, guest.task_id
                ),
                lambda: self.addresses.release(guest.id, guest.task_id),
            )
        ]

    def resume(self) -> None:
        """
        Roll back every create saga that the journal shows unfinished,
        as Core starts: its Cell may hold a part of the instance. Then
        release the addresses that no guest needs any more.
        """
        for guest in list(self.state.values()):
            if guest.status in UNFINISHED and guest.id not in self.sagas:
                self._roll_back(guest)
        self._release_orphans()

    def _release_orphans(self) -> None:
        """
        Release the address of each deleted or rolled back guest. A crash
        between a guest's last event and its address's release leaves
        such an address allocated.
        """
        if self.addresses is None:
            return
        for instance in list(self.addresses.state.instances):
            guest = self.state.get(instance)
            if guest is None or guest.status == ROLLED_BACK:
                self._release(instance)

    def _release(self, instance) -> None:
        """Release the address of ``instance``, logging a failure."""
        if self.addresses is None:
            return
        released = self.addresses.release(instance, self.make_id())
        released.addErrback(self._release_failed, instance)

    def _release_failed(self, failure, instance):
        self.log.failure(
            "Could not release the address of guest {guest}",
            failure,
            guest=instance,
        )

    def address(self, guest_id: str) -> str | None:
        """Return the guest's allocated IPv4 address, or ``None``."""
        if self.addresses is None:
            return None
        return self.addresses.state.instances.get(guest_id)

    def _roll_back(self, guest) -> None:
        saga = self._saga(guest.id)
        self.sagas[guest.id] = saga
        reason = None if guest.status == FAILED else RESTARTED
        last = steps_done(saga.steps, guest.steps)
        rolling = saga.roll_back(last, reason)
        rolling.addBoth(self._ended, guest.id)

    # Requests to the Cells.

    def peer(self, guest):
        """
        Return the fabric peer of the guest's Cell.

        :raises CellUnavailable: the Cell is not connected.
        """
        cell = self.cluster.cell(guest.cell)
        session = self.cluster.session
        if cell is None or cell.peer is None or session is None:
            raise CellUnavailable(
                f"Cell {guest.cell} of guest {guest.id} is not connected"
            )
        return cell.peer

    def request(self, guest, message, timeout=POWER_TIMEOUT) -> Deferred:
        """Send ``message`` to the guest's Cell; fire with its reply."""
        peer = self.peer(guest)
        return self.cluster.session.request(peer, message, timeout)

    def _create_instance(self, guest) -> Deferred:
        template = self.live.current.state.templates.get(guest.template)
        device_set = {}
        if template is not None:
            device_set = {key: getattr(template, key) for key in TEMPLATE_KEYS}
        message = CreateInstanceRequest(
            task_id=guest.task_id,
            instance_id=guest.id,
            name=guest.name,
            cores=guest.cores,
            memory=guest.memory,
            disks=list(guest.disks),
            template=device_set,
            mac=guest.mac,
            from_image=self._disk_image(guest),
            network=self._network(guest),
            cloud_init=_cloud_init(guest),
        )
        timeout = CREATE_TIMEOUT if guest.image is None else DOWNLOAD_TIMEOUT
        created = self.request(guest, message, timeout)
        return created.addCallback(self._listed, guest)

    def _network(self, guest) -> dict | None:
        """Return the guest's address settings for its Cell, or None."""
        if self.addresses is None:
            return None
        return self.addresses.network(guest.id)

    def _disk_image(self, guest) -> dict | None:
        """
        Return the reference of the guest's disk image, or None.

        :raises ImageUnavailable: the image was deleted since the guest's
            creation started; the saga then rolls back.
        """
        if guest.image is None:
            return None
        return self._reference("disk", guest.image)

    def _reference(self, kind, image_id) -> dict:
        """Return an image reference with the keys the Cell needs."""
        reference = self.image_reference(kind, image_id)
        return {k: v for k, v in reference.items() if k != "virtual_size"}

    def _listed(self, reply, guest):
        """Add a created instance to its Cell's list, until the Cell's
        next full list replaces it."""
        cell = self.cluster.cell(guest.cell)
        if cell is not None:
            instances = [*cell.instances.values(), reply.instance]
            cell.replace_instances(instances)
        return reply

    def start_instance(self, guest, task_id=None, media=None) -> Deferred:
        """
        Ask the guest's Cell to start its instance, booting from the
        media image ``media`` (an id) if given.

        :raises ImageUnavailable: at once, for an unusable media image.
        """
        reference = None
        if media is not None:
            reference = self._reference("media", media)
        message = StartInstanceRequest(
            task_id=task_id or guest.task_id,
            instance_id=guest.id,
            from_media=reference,
        )
        timeout = POWER_TIMEOUT if media is None else DOWNLOAD_TIMEOUT
        started = self.request(guest, message, timeout)
        if media is not None:
            started.addCallback(self.note_media, guest, media)
        return started.addCallback(self.note_state, guest)

    def insert_media(self, guest, media: str) -> Deferred:
        """
        Ask the guest's Cell to put a media image (an id) in its
        instance's CD-ROM drive.

        :raises ImageUnavailable: at once, for an unusable media image.
        """
        message = InsertMediaRequest(
            task_id=self.make_id(),
            instance_id=guest.id,
            media=self._reference("media", media),
        )
        inserted = self.request(guest, message, DOWNLOAD_TIMEOUT)
        return inserted.addCallback(self.note_media, guest, media)

    def eject_media(self, guest) -> Deferred:
        """Ask the guest's Cell to empty its instance's CD-ROM drive."""
        message = EjectMediaRequest(
            task_id=self.make_id(), instance_id=guest.id
        )
        ejected = self.request(guest, message)
        return ejected.addCallback(self.note_media, guest, None)

    def note_media(self, reply, guest, media):
        """
        Set the media image id in the instance's drive in its Cell's
        list, so that deleting that image is rejected.
        """
        cell = self.cluster.cell(guest.cell)
        if cell is not None:
            cell.set_media(guest.id, media)
        return reply

    def note_state(self, reply, guest):
        """Set the instance state a Cell replied in its Cell's list."""
        cell = self.cluster.cell(guest.cell)
        if cell is not None:
            cell.set_state(guest.id, reply.state)
        return reply

    def delete_instance(self, guest, task_id=None) -> Deferred:
        """Ask the guest's Cell to delete its instance and volumes."""
        message = DeleteInstanceRequest(
            task_id=task_id or guest.task_id, instance_id=guest.id
        )
        deleted = self.request(guest, message)
        return deleted.addCallback(self._unlisted, guest)

    def _unlisted(self, reply, guest):
        cell = self.cluster.cell(guest.cell)
        if cell is not None:
            cell.remove_instance(guest.id)
        return reply

    def delete(self, guest) -> Deferred:
        """
        Delete the guest's instance on its Cell, release its address,
        then record the deletion.
        """
        task_id = self.make_id()
        deleted = self.delete_instance(guest, task_id)
        if self.addresses is not None:
            deleted.addCallback(
                lambda _: self.addresses.release(guest.id, task_id)
            )
        return deleted.addCallback(
            lambda _: self.record(
                GuestDeleted(aggregate_id=guest.id, time=self.now())
            )
        )

    # Changes.

    def rename(self, guest, name: str) -> Deferred:
        """Record a guest's new name; its Cell does not need it."""
        return self.record(
            GuestRenamed(
                aggregate_id=guest.id,
                time=self.now(),
                task_id=self.make_id(),
                name=name,
            )
        )

    def set_cores(self, guest, cores: int, immediate: bool) -> Deferred:
        """Change a guest's vCPUs: see :meth:`change`."""
        new = {"cores": cores, "immediate": immediate}
        return self.change(guest, GuestCoresChanged, new)

    def set_memory(self, guest, memory: int, immediate: bool) -> Deferred:
        """Change a guest's memory in bytes: see :meth:`change`."""
        new = {"memory": memory, "immediate": immediate}
        return self.change(guest, GuestMemoryChanged, new)

    def set_auto_start(self, guest, enable: bool) -> Deferred:
        """Change whether a guest starts with its Cell: see :meth:`change`."""
        return self.change(
            guest, GuestAutoStartChanged, {"auto_start": enable}
        )

    def change(self, guest, event_type, new: dict) -> Deferred:
        """
        Record a change to a guest, then ask its Cell to apply it. If the
        Cell fails, record the old values back and fail the same way.
        Changes to one guest run one at a time, so that a compensation
        puts back the value the change replaced.

        :param new: the event's fields, which are also the fields of the
            :class:`~nano.messages.ModifyInstanceRequest`.
        :raises CellUnavailable: at once, with nothing recorded.
        """
        self.peer(guest)
        lock = self._change_locks.setdefault(guest.id, DeferredLock())
        changed = lock.run(self._change, guest.id, event_type, new)
        return changed.addBoth(self._forget_lock, guest.id, lock)

    def _change(self, guest_id, event_type, new):
        guest = self.state[guest_id]
        old = {key: getattr(guest, key, value) for key, value in new.items()}
        task_id = self.make_id()
        ids = {"aggregate_id": guest_id, "task_id": task_id}
        message = ModifyInstanceRequest(
            task_id=task_id, instance_id=guest_id, **new
        )
        # TODO: a Core killed between this record and the Cell's reply
        # keeps the new value, which the Cell may not have applied.
        recorded = self.record(event_type(time=self.now(), **ids, **new))

        def act(_):
            sent = maybeDeferred(self.request, guest, message)
            return sent.addErrback(self._undo, event_type, ids, old)

        return recorded.addCallback(act)

    def _forget_lock(self, result, guest_id, lock):
        if not lock.locked and not lock.waiting:
            self._change_locks.pop(guest_id, None)
        return result

    def _undo(self, failure, event_type, ids, old):
        guest_id = ids["aggregate_id"]
        self.log.warn(
            "Cell rejected a change of guest {guest}: {error}; recording "
            "the old values {old} again",
            guest=guest_id,
            error=failure.getErrorMessage(),
            old=old,
        )
        undone = self.record(event_type(time=self.now(), **ids, **old))
        undone.addCallback(lambda _: self._restore(guest_id, ids, old))
        return undone.addCallback(lambda _: failure)

    def _restore(self, guest_id, ids, old) -> Deferred:
        """
        Send the Cell the old values, in case it applied a part of the
        change, or all of it and its reply was lost. A failure is logged.
        """
        message = ModifyInstanceRequest(
            task_id=ids["task_id"], instance_id=guest_id, **old
        )
        sent = maybeDeferred(self.request, self.state[guest_id], message)
        return sent.addErrback(self._restore_failed, guest_id, old)

    def _restore_failed(self, failure, guest_id, old):
        # TODO: a Cell that was away keeps the rejected value until the
        # guest is changed again; Core could send it on reconnect.
        self.log.warn(
            "Could not restore {old} on the Cell of guest {guest}: {error}",
            guest=guest_id,
            old=old,
            error=failure.getErrorMessage(),
        )


def _cloud_init(guest) -> dict | None:
    """Return the cloud-init settings a guest's Cell gets, or None."""
    if not guest.cloud_init:
        return None
    return {
        "hostname": guest.name,
        "admin_name": guest.admin_name or "root",
        "admin_secret": guest.admin_secret or "",
        "root_enabled": guest.root_enabled,
        "data_path": guest.data_path or "",
    }


class _GuestSagaLog:
    """Journal a guest's create saga as guest events."""

    def __init__(self, guests: Guests, guest_id: str, task_id):
        self.guests = guests
        self.ids = {"aggregate_id": guest_id, "task_id": task_id}

    def _record(self, event_type, **fields) -> Deferred:
        now = self.guests.now()
        return self.guests.record(event_type(time=now, **self.ids, **fields))

    def step_done(self, step: str) -> Deferred:
        return self._record(GuestCreateStepDone, step=step)

    def finished(self) -> Deferred:
        return self._record(GuestCreated)

    def failed(self, reason: str) -> Deferred:
        return self._record(GuestCreateFailed, reason=reason)

    def rolled_back(self) -> Deferred:
        return self._record(GuestRolledBack)


def _with_reserved(candidate, reserved):
    """Return ``candidate`` with ``(cores, memory, disk)`` counted as used."""
    if reserved is None:
        return candidate
    cores, memory, disk = reserved
    return attrs.evolve(
        candidate,
        memory_available=candidate.memory_available - memory,
        disk_available=candidate.disk_available - disk,
        allocated_cores=candidate.allocated_cores + cores,
        allocated_memory=candidate.allocated_memory + memory,
        allocated_disk=candidate.allocated_disk + disk,
    )
