"""
The Cell's request handlers. Each is a small saga: it journals what it
is about to do, acts through the libvirt host and the volume store, and
on a failure undoes its steps in reverse order and journals the outcome.
"""

import contextlib
import os

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from nano.cell.cloudinit import (
    SeedError,
    SeedStore,
    check_seed,
    data_devices,
    wants_seed,
)
from nano.cell.libvirt import (
    DomainNotFound,
    DomainNotRunning,
    DomainRunning,
    DomainState,
    HypervisorError,
    InvalidDomainSpec,
)
from nano.cell.storage import StorageError, VolumeNotFound
from nano.events import JournalWriteError
from nano.events.cell import (
    InstanceCreated,
    InstanceCreateFailed,
    InstanceCreating,
    InstanceDeleted,
    InstanceDeleteFailed,
    InstanceDeleting,
    VolumeCreated,
    VolumeDeleted,
)
from nano.fabric import ErrorReply
from nano.messages import (
    CreateInstanceRequest,
    CreateInstanceResponse,
    DeleteInstanceRequest,
    DeleteInstanceResponse,
    GetInstanceStatusRequest,
    GetInstanceStatusResponse,
    StartInstanceRequest,
    StartInstanceResponse,
    StopInstanceRequest,
    StopInstanceResponse,
)
from nano.messages import (
    InstanceDeleted as DeletedNotice,
)

from ._instances import (
    InvalidInstance,
    check_disk_count,
    check_instance_id,
    describe,
    device_set,
    display_of,
    domain_name,
    domain_spec,
    instance_xml,
    volume_name,
)

_REBOOT = 0  # virDomainRebootFlagValues: the hypervisor's default method


class CellError(Exception):
    """A request failed; the message gives the reason and the fix."""


class ForeignDomain(CellError):
    """A domain has an instance's name but another UUID: not Nano's."""


#: Failures that a request reports to Core as an error reply, without a
#: traceback in the log.
EXPECTED = (
    CellError,
    InvalidInstance,
    InvalidDomainSpec,
    HypervisorError,
    StorageError,
    JournalWriteError,
    SeedError,
)


class InstanceHandlers:
    """
    Creates, starts, stops and deletes instances for Core.

    :param book: the :class:`~nano.cell._book.InstanceBook`.
    :param host: the connected :class:`~nano.cell.libvirt.Host`.
    :param storage: the :class:`~nano.cell.storage.LocalStorage`.
    :param settings: the :class:`~nano.cell._settings.CellSettings`.
    :param console_directory: where serial console logs are written.
    :param ready: returns a Deferred that fires once the Cell has
        reconciled its journal with libvirt; requests wait for it.
    :param images: the :class:`~nano.cell._image_cache.ImageCache` that
        disk and media images are fetched into.
    """

    log = Logger()

    def __init__(
        self, book, host, storage, settings, console_directory, ready, images
    ):
        self._book = book
        self._host = host
        self._storage = storage
        self._settings = settings
        self._console_directory = console_directory
        self._ready = ready
        self.images = images
        #: The instances' cloud-init seed ISOs. This one builds on the
        #: calling thread; the Cell's assembly gives it a thread pool.
        self.seeds = SeedStore(settings.storage_directory, maybeDeferred)
        #: The :class:`~nano.cell._media.MediaHandler`, set by the Cell's
        #: assembly.
        self.media = None
        #: The :class:`~nano.cell.network.CellDhcp` serving instance
        #: addresses on the bridge, or ``None``; set by the Cell's assembly.
        self.dhcp = None

    def register(self, session):
        """Handle the instance requests that arrive on ``session``."""
        session.handle(
            CreateInstanceRequest, self._handler(self.create, with_peer=True)
        )
        session.handle(DeleteInstanceRequest, self._handler(self.delete))
        session.handle(
            StartInstanceRequest, self._handler(self.start, with_peer=True)
        )
        session.handle(StopInstanceRequest, self._handler(self.stop))
        session.handle(GetInstanceStatusRequest, self._handler(self.status))

    def console_log(self, instance_id):
        """Return the path of an instance's serial console log."""
        return os.path.join(self._console_directory, f"{instance_id}.log")

    def _handler(self, operation, with_peer=False):
        """
        Wrap ``operation(request)`` as a session handler; with
        ``with_peer``, it is called as ``operation(request, peer)``.
        """

        def handle(peer, request):
            arguments = (request, peer) if with_peer else (request,)
            return Deferred.fromCoroutine(self._run(operation, *arguments))

        return handle

    async def _run(self, operation, request, *peer):
        await self._ready()
        lock = self._book.lock(request.instance_id)
        await lock.acquire()
        try:
            return await operation(request, *peer)
        except EXPECTED as error:
            self.log.warn(
                "{type} for instance {instance_id} failed: {error}",
                type=request.type_name,
                instance_id=request.instance_id,
                error=str(error),
            )
            return ErrorReply(error=f"{request.type_name} failed: {error}")
        finally:
            self._book.unlock(request.instance_id, lock)

    # Create

    async def create(self, request, peer=None):
        """
        Create an instance's volumes and domain, and start it if asked.

        A ``from_image`` is fetched into the image cache from Core's
        address as ``peer`` (Core's fabric connection) sees it, before
        anything is journalled. Any later failure removes what was made,
        in reverse order, and journals ``InstanceCreateFailed``.
        """
        existing = self._book.get(request.instance_id)
        if existing is not None:
            return self._repeated_create(request, existing)
        devices = self._check_create(request)
        image = request.image
        if request.from_image is not None:
            image = str(await self.fetch_image(request.from_image, peer))
        await self._book.record(
            InstanceCreating,
            request.instance_id,
            request.task_id,
            **_creating_fields(request, devices, image),
        )
        progress = _Progress()
        try:
            await self._build(request, progress)
        except Exception as error:
            await self._roll_back_create(request, progress, error)
            raise CellError(
                f"creating instance {request.instance_id} failed and was "
                f"rolled back: {_message(error)}"
            ) from error
        instance = self._book.get(request.instance_id)
        self.log.info(
            "Created instance {instance_id} ({name}) for task {task_id}",
            instance_id=instance.id,
            name=instance.name,
            task_id=request.task_id,
        )
        return CreateInstanceResponse(
            task_id=request.task_id,
            instance_id=instance.id,
            instance=describe(instance),
        )

    async def fetch_image(self, reference, peer):
        """
        Return the cached file of an image reference, fetched from Core
        if it is not cached yet.

        :raises CellError: the download failed; the message names the
            image and the reason.
        """
        if peer is None:
            raise CellError(
                f"cannot fetch {reference['kind']} image {reference['id']}: "
                "Core's address is unknown"
            )
        try:
            return await self.images.get(peer.address[0], reference)
        except Exception as error:
            raise CellError(
                f"fetching {reference['kind']} image {reference['id']} "
                f"failed: {_message(error)}"
            ) from error

    def _repeated_create(self, request, existing):
        if existing.task_id == request.task_id:
            # The same task asked again (its reply was lost): no new work.
            return CreateInstanceResponse(
                task_id=request.task_id,
                instance_id=existing.id,
                instance=describe(existing),
            )
        raise CellError(
            f"instance {existing.id} exists already on this Cell, created "
            f"by task {existing.task_id}; use a new instance id"
        )

    def _check_create(self, request):
        check_instance_id(request.instance_id)
        devices = device_set(request.template)
        check_disk_count(devices, len(request.disks))
        limit = self._settings.instance_limit
        if len(self._book.instances()) >= limit:
            raise CellError(
                f"instance limit reached: this Cell has {limit} instances "
                "(instance_limit in cell.cfg); choose another Cell or raise "
                "the limit"
            )
        if request.image is not None and not os.path.isabs(request.image):
            raise InvalidInstance(
                f"invalid image {request.image!r}: must be an absolute path "
                "of a qcow2 or raw image on the Cell"
            )
        if wants_seed(request.cloud_init, request.network):
            settings, data = _seed_request(request, devices.disk_bus)
            check_seed(
                request.instance_id,
                settings,
                request.network,
                request.mac,
                data,
            )
        # Check cores, memory and MAC now, before anything is journalled.
        domain_spec(
            _Preview(request, devices),
            self._settings,
            ["/" + volume_name(request.instance_id, 0)],
            None,
        )
        return devices

    async def _build(self, request, progress):
        instance_id, task_id = request.instance_id, request.task_id
        if self.dhcp is not None and _uses_dhcp(request.network):
            # The binding is journalled with InstanceCreating: serve it
            # before the guest can ask for it.
            await self.dhcp.sync()
        paths = []
        for index, size in enumerate(request.disks):
            name = volume_name(instance_id, index)
            paths.append(await self._create_volume(request, index, name))
            progress.volumes.append(name)
            await self._book.record(
                VolumeCreated, instance_id, task_id, volume=name, size=size
            )
        await self._build_seed(request, progress)
        instance = self._book.get(instance_id)
        spec = domain_spec(
            instance, self._settings, paths, self.console_log(instance_id)
        )
        xml = self.seeds.attach(instance_xml(spec, paths), instance_id)
        guest = await self._host.define(xml)
        progress.guest = guest
        await self._book.record(
            InstanceCreated, instance_id, task_id, domain=guest.name
        )
        if request.start:
            await guest.start()
            progress.started = True
            await self._book.power(instance_id, "running", task_id=task_id)

    async def _build_seed(self, request, progress):
        """Write the cloud-init seed ISO that a request names, if any."""
        if not wants_seed(request.cloud_init, request.network):
            return
        bus = device_set(request.template).disk_bus
        settings, data = _seed_request(request, bus)
        progress.seed = True
        await self.seeds.build(
            request.instance_id, settings, request.network, request.mac, data
        )

    def _create_volume(self, request, index, name):
        size = request.disks[index]
        image = self._book.get(request.instance_id).image
        if index == 0 and image is not None:
            return self._storage.create_from_image(name, image, size)
        return self._storage.create(name, size)

    async def _roll_back_create(self, request, progress, error):
        instance_id = request.instance_id
        self.log.warn(
            "Creating instance {instance_id} failed: {error}; rolling back",
            instance_id=instance_id,
            error=_message(error),
        )
        if progress.started:
            await self._quietly(
                instance_id, progress.guest.destroy(), DomainNotRunning
            )
        if progress.guest is not None:
            await self._quietly(
                instance_id, progress.guest.undefine(), DomainNotFound
            )
        if progress.seed:
            removing = maybeDeferred(self.seeds.remove, instance_id)
            await self._quietly(instance_id, removing)
        for name in reversed(progress.volumes):
            deleting = self._delete_volume(instance_id, name, request.task_id)
            await self._quietly(instance_id, Deferred.fromCoroutine(deleting))
        await self._book.record(
            InstanceCreateFailed,
            instance_id,
            request.task_id,
            error=_message(error),
        )
        if self.dhcp is not None:
            self.dhcp.update()

    async def _quietly(self, instance_id, deferred, *harmless):
        """Wait for a compensation; log its failure and go on."""
        try:
            await deferred
        except harmless:
            pass
        except Exception as error:
            self.log.error(
                "A rollback step of instance {instance_id} failed, and may "
                "have left something behind that a delete of the instance "
                "removes: {error}",
                instance_id=instance_id,
                error=_message(error),
            )

    async def _delete_volume(self, instance_id, name, task_id):
        with contextlib.suppress(VolumeNotFound):
            await self._storage.delete(name)
        instance = self._book.get(instance_id)
        if instance is not None and name in instance.volumes:
            await self._book.record(
                VolumeDeleted, instance_id, task_id, volume=name
            )

    # Delete

    async def delete(self, request):
        """
        Stop the instance's domain if it runs, undefine it and delete its
        volumes. A delete that failed part way can be sent again, and a
        delete of an instance the Cell does not have succeeds, so that a
        Core task can use it as a compensation whatever the create did.
        """
        instance = self._book.get(request.instance_id)
        if instance is None:
            check_instance_id(request.instance_id)
            await self._remove_leftovers(request.instance_id)
        else:
            await self._delete_journalled(instance, request.task_id)
        return DeleteInstanceResponse(
            task_id=request.task_id, instance_id=request.instance_id
        )

    async def _delete_journalled(self, instance, task_id):
        await self._book.record(InstanceDeleting, instance.id, task_id)
        try:
            await self.remove(instance, task_id)
        except EXPECTED as error:
            state = await self._state_after_failure(instance)
            await self._book.record(
                InstanceDeleteFailed,
                instance.id,
                task_id,
                error=_message(error),
                state=state,
            )
            raise
        await self.finish_delete(instance, task_id)

    async def remove(self, instance, task_id):
        """
        Remove an instance's domain, if it is the instance's, and every
        volume it may have, whether journalled or not.
        """
        try:
            guest = await self._lookup(instance.id)
        except ForeignDomain as error:
            self.log.warn("Left a domain alone: {error}", error=str(error))
            guest = None
        if guest is not None:
            if await guest.state() is not DomainState.STOPPED:
                with contextlib.suppress(DomainNotRunning):
                    await guest.destroy()
            await guest.undefine()
        for index in range(len(instance.disks)):
            name = volume_name(instance.id, index)
            await self._delete_volume(instance.id, name, task_id)
        self._remove_seed(instance.id)

    def _remove_seed(self, instance_id):
        try:
            self.seeds.remove(instance_id)
        except OSError as error:
            raise CellError(
                f"deleting the seed ISO of instance {instance_id} failed: "
                f"{error.strerror}; check {self.seeds.path(instance_id)}"
            ) from error

    async def _remove_leftovers(self, instance_id):
        """
        Remove the domain and volumes named for an instance that is not in
        the journal, which a rollback step that failed may have left.
        """
        guest = await self._lookup(instance_id)
        if guest is not None:
            with contextlib.suppress(DomainNotRunning):
                await guest.destroy()
            await guest.undefine()
        prefix = volume_name(instance_id, "")
        names = [n for n in self._storage.names() if n.startswith(prefix)]
        for name in names:
            with contextlib.suppress(VolumeNotFound):
                await self._storage.delete(name)
        self._remove_seed(instance_id)
        self.log.info(
            "Deleted instance {instance_id}, not in the journal: removed "
            "{volumes} leftover volumes and {domains} domains",
            instance_id=instance_id,
            volumes=len(names),
            domains=0 if guest is None else 1,
        )

    async def finish_delete(self, instance, task_id):
        """Journal that an instance is gone, then tell Core."""
        await self._book.record(InstanceDeleted, instance.id, task_id)
        if self.dhcp is not None:
            self.dhcp.update()
        self.log.info(
            "Deleted instance {instance_id} ({name})",
            instance_id=instance.id,
            name=instance.name,
        )
        self._book.notify(
            DeletedNotice(
                cell=self._book.cell, instance_id=instance.id, task_id=task_id
            )
        )

    async def _lookup(self, instance_id):
        """Return the instance's :class:`Guest`, or ``None``."""
        try:
            guest = await self._host.lookup(domain_name(instance_id))
        except DomainNotFound:
            return None
        if guest.uuid != instance_id:
            raise ForeignDomain(
                f"domain {guest.name} has UUID {guest.uuid}, not instance "
                f"{instance_id}: it was not made by Nano; rename or remove "
                "it with virsh"
            )
        return guest

    async def _state_after_failure(self, instance):
        try:
            guest = await self._lookup(instance.id)
            if guest is None:
                return "deleting"
            state = await guest.state()
        except EXPECTED:
            return "deleting"
        return "running" if state is DomainState.RUNNING else "stopped"

    # Start, stop, status

    async def start(self, request, peer=None):
        """
        Start a stopped instance; with ``from_media``, boot it from that
        media image (see :class:`~nano.cell._media.MediaHandler`).
        """
        instance = self._require(request.instance_id)
        self._require_state(instance, ("stopped", "running"), "start")
        if request.from_media is not None:
            return await self.media.start_from_media(instance, request, peer)
        guest = await self._require_guest(instance)
        with contextlib.suppress(DomainRunning):
            await guest.start()
        await self._book.power(instance.id, "running", task_id=request.task_id)
        return StartInstanceResponse(
            task_id=request.task_id, instance_id=instance.id, state="running"
        )

    async def stop(self, request):
        """
        Stop or restart an instance: by ACPI, or at once with ``force``.
        """
        instance = self._require(request.instance_id)
        self._require_state(instance, ("stopped", "running"), "stop")
        guest = await self._require_guest(instance)
        if request.reboot:
            await self._reboot(guest, request.force)
            state = "running"
        elif request.force:
            await self._destroy(guest)
            await self._book.power(
                instance.id, "stopped", "destroyed", request.task_id
            )
            state = "stopped"
        else:
            await self._shut_down(guest)
            state = self._book.get(instance.id).state
        return StopInstanceResponse(
            task_id=request.task_id, instance_id=instance.id, state=state
        )

    async def _reboot(self, guest, force):
        if force:
            # The host drops the STOPPED event that a STARTED one follows.
            await self._destroy(guest)
            await guest.start()
        else:
            await self._host.call(
                "reboot", guest.name, _reboot_domain, guest.uuid
            )

    async def _destroy(self, guest):
        with contextlib.suppress(DomainNotRunning):
            await guest.destroy()

    async def _shut_down(self, guest):
        with contextlib.suppress(DomainNotRunning):
            await guest.shutdown()

    async def status(self, request):
        """
        Describe an instance, with the CPU time and the remote display of
        a running domain.
        """
        instance = self._require(request.instance_id)
        cpu_time, display = 0, None
        if instance.state == "running":
            guest = await self._require_guest(instance)
            cpu_time = (await guest.info()).cpu_time
            display = display_of(await guest.xml(secure=True))
        return GetInstanceStatusResponse(
            instance_id=instance.id,
            instance=describe(instance),
            cpu_time=cpu_time,
            display=display,
            task_id=request.task_id,
        )

    def _require(self, instance_id):
        instance = self._book.get(instance_id)
        if instance is None:
            raise CellError(f"instance {instance_id} not found on this Cell")
        return instance

    def _require_state(self, instance, states, action):
        if instance.state not in states:
            raise CellError(
                f"cannot {action} instance {instance.id}: it is "
                f"{instance.state}, and must be {' or '.join(states)}"
            )

    async def _require_guest(self, instance):
        guest = await self._lookup(instance.id)
        if guest is None:
            raise CellError(
                f"instance {instance.id} has no libvirt domain "
                f"{domain_name(instance.id)}: it was removed outside Nano; "
                "delete the instance"
            )
        return guest


class _Progress:
    """The volumes and domain a create has made so far, for rollback."""

    def __init__(self):
        self.volumes = []
        self.guest = None
        self.started = False
        self.seed = False


def _seed_request(request, disk_bus):
    """
    Return the cloud-init settings and data disk devices for a request's
    seed. A static address alone gets only the host name, and the data
    disks are left alone.
    """
    if request.cloud_init is None:
        return {"hostname": request.name}, []
    return request.cloud_init, data_devices(disk_bus, len(request.disks))


class _Preview:
    """A request in the shape of a journalled instance, for checks."""

    def __init__(self, request, devices):
        self.id = request.instance_id
        self.name = request.name
        self.cores = request.cores
        self.memory = request.memory
        self.mac = request.mac
        self.media = None
        for field, value in _device_fields(devices).items():
            setattr(self, field, value)


def _device_fields(devices):
    return {
        "disk_bus": devices.disk_bus,
        "nic_model": devices.nic_model,
        "display": devices.display,
        "control": devices.control,
        "usb": devices.usb,
        "tablet": devices.tablet,
    }


def _creating_fields(request, devices, image):
    return {
        "name": request.name,
        "cores": request.cores,
        "memory": request.memory,
        "disks": tuple(request.disks),
        "mac": request.mac,
        "image": image,
        "network": request.network,
        **_device_fields(devices),
    }


def _uses_dhcp(network):
    return network is not None and network.get("provider") == "dhcp"


def _reboot_domain(connection, uuid):
    connection.lookupByUUIDString(uuid).reboot(_REBOOT)


def _message(error):
    return getattr(error, "message", None) or str(error) or repr(error)
