"""
The Cell's handlers of CD-ROM media: insert and eject, and the start of
an instance that boots from a media image.

Media changes are journalled first (``MediaInserted``,
``MediaEjected``), then made in libvirt. If libvirt fails, the previous
media is journalled back, so the journal keeps what the drive holds.
"""

from twisted.logger import Logger

from nano.cell.libvirt import with_media
from nano.events.cell import MediaEjected, MediaInserted
from nano.messages import (
    EjectMediaRequest,
    EjectMediaResponse,
    InsertMediaRequest,
    InsertMediaResponse,
    StartInstanceResponse,
)


class MediaHandler:
    """
    Inserts and ejects media, and starts instances from media.

    :param handlers: the Cell's
        :class:`~nano.cell._handlers.InstanceHandlers`, whose instance
        lock, image cache and error replies this handler shares.
    """

    log = Logger()

    def __init__(self, handlers):
        self._handlers = handlers
        self._book = handlers._book

    def register(self, session):
        """Handle the media requests that arrive on ``session``."""
        wrap = self._handlers._handler
        session.handle(InsertMediaRequest, wrap(self.insert, with_peer=True))
        session.handle(EjectMediaRequest, wrap(self.eject))

    async def insert(self, request, peer=None):
        """Fetch the media image, then put it in the CD-ROM drive."""
        instance = self._changeable(request.instance_id, "insert media in")
        path = await self._handlers.fetch_image(request.media, peer)
        guest = await self._handlers._require_guest(instance)
        await self._change(instance, guest, request, str(path), request.media)
        return InsertMediaResponse(
            task_id=request.task_id, instance_id=instance.id
        )

    async def eject(self, request):
        """Empty the CD-ROM drive. Ejecting an empty drive changes nothing."""
        instance = self._changeable(request.instance_id, "eject media of")
        if instance.media is not None:
            guest = await self._handlers._require_guest(instance)
            await self._change(instance, guest, request, None, None)
        return EjectMediaResponse(
            task_id=request.task_id, instance_id=instance.id
        )

    async def start_from_media(self, instance, request, peer):
        """
        Insert the request's media and start the instance from it, the
        CD-ROM drive first in the boot order for this start only.
        """
        self._handlers._require_state(instance, ("stopped",), "boot")
        path = str(await self._handlers.fetch_image(request.from_media, peer))
        guest = await self._handlers._require_guest(instance)
        await self._record(
            instance.id, request.task_id, path, request.from_media
        )
        definition = await guest.xml(secure=True, inactive=True)
        try:
            await guest.redefine(with_media(definition, path, True))
            await guest.start()
        except Exception:
            await self._record_back(instance, request.task_id)
            await guest.redefine(definition)
            raise
        await self._book.power(instance.id, "running", task_id=request.task_id)
        await self._boot_from_disk_next(guest, instance.id, definition, path)
        self._log(
            "Started instance {instance_id} from media {image}",
            instance.id,
            request.from_media,
        )
        return StartInstanceResponse(
            task_id=request.task_id, instance_id=instance.id, state="running"
        )

    async def _boot_from_disk_next(self, guest, instance_id, definition, path):
        """
        Define the domain to boot from its system disk at its next start,
        with the media still in the drive. The running domain keeps
        booting from the CD-ROM when the guest reboots.
        """
        try:
            await guest.redefine(with_media(definition, path, False))
        except Exception as error:
            self.log.warn(
                "Instance {instance_id} runs, but its next start still "
                "boots from the CD-ROM first: {error}",
                instance_id=instance_id,
                error=str(error),
            )

    def _changeable(self, instance_id, action):
        instance = self._handlers._require(instance_id)
        self._handlers._require_state(instance, ("stopped", "running"), action)
        return instance

    async def _change(self, instance, guest, request, path, media):
        await self._record(instance.id, request.task_id, path, media)
        try:
            await guest.change_media(path)
        except Exception:
            await self._record_back(instance, request.task_id)
            raise
        if media is None:
            self.log.info(
                "Ejected the media of instance {instance_id}",
                instance_id=instance.id,
            )
        else:
            self._log(
                "Inserted media {image} in instance {instance_id}",
                instance.id,
                media,
            )

    def _record(self, instance_id, task_id, path, media):
        if path is None:
            return self._book.record(MediaEjected, instance_id, task_id)
        return self._book.record(
            MediaInserted, instance_id, task_id, path=path, image=media["id"]
        )

    def _record_back(self, instance, task_id):
        """Journal the media ``instance`` had before a failed change."""
        media = None
        if instance.media is not None:
            media = {"id": instance.media_image}
        return self._record(instance.id, task_id, instance.media, media)

    def _log(self, text, instance_id, media):
        self.log.info(
            text,
            instance_id=instance_id,
            image=media["id"],
            sha256=media["sha256"],
        )
