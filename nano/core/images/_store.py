"""
Core's image store: image records folded from Core's journal, their
files under ``<data>/images/``, and the uploads in progress.

An upload is written to a partial file beside the final one. Once the
whole body is in, a thread hashes it, checks its format, syncs it and
renames it into place, and only then is ``...ImageUploaded`` recorded.
An upload that is cut short or invalid leaves no file and no record. A
crash between the rename and the record leaves a file, which the next
start removes (:meth:`Images.remove_leftovers`).
"""

import errno
import os
import uuid
from pathlib import Path

from twisted.internet.defer import Deferred

from nano.durable import fsync_directory
from nano.events import utc_time
from nano.events.images import IMAGE_EVENTS
from nano.projections import load
from nano.projections.images import ImageProjection
from nano.tls import image_token

from .._logging import core_logger
from ._files import (
    FORMATS,
    PARTIAL_PREFIX,
    PARTIAL_SUFFIX,
    free_space,
    image_path,
    leftovers,
    make_directories,
    remove,
    sha256_of,
    sync_file,
)
from ._formats import InvalidImage, inspect
from ._upload import InvalidUpload, UploadBody, UploadWriteError

KIND_NAMES = {"disk": "disk image", "media": "media image"}
#: The errno values of a write that failed for lack of space, which the
#: client gets as 507 Insufficient Storage.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class ImageError(Exception):
    """
    A request about an image that cannot be served.

    :ivar status: the HTTP status that fits: 400, 404, 409, 503 or 507.
    """

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class Images:
    """
    Core's disk and media images.

    :param live: Core's :class:`~nano.projections.LiveProjection`; image
        events are recorded through it, so that they are on disk before
        :attr:`state` changes.
    :param root: the directory of image files, ``<data>/images``.
    :param run_blocking: ``run_blocking(function, *args)`` runs blocking
        file work away from the reactor and returns a Deferred of its
        result, such as ``deferToThreadPool`` bound to a reactor.
    :ivar state: images by id, a :class:`~pyrsistent.PMap` of
        :class:`~nano.projections.images.Image`.
    :ivar uploads: the upload bodies being received or checked, by
        image id.
    """

    log = core_logger()

    def __init__(self, live, root: Path, clock, run_blocking, make_id=None):
        self.live = live
        self.root = Path(root)
        self.clock = clock
        self.run_blocking = run_blocking
        self.make_id = make_id or (lambda: str(uuid.uuid4()))
        self.projection = ImageProjection()
        # NOTE: Core writes snapshots of its core projection only, so
        # this replays the whole journal at each start.
        self.state = load(self.projection, live.journal).state
        self.uploads: dict[str, UploadBody] = {}
        self.service = None
        make_directories(self.root)

    # Records.

    def record(self, event) -> Deferred:
        """Append ``event`` to Core's journal, then fold it here."""
        recorded = self.live.record(event)
        return recorded.addCallback(self._fold, event)

    def _fold(self, projected, event):
        self.state = self.projection.apply(self.state, event)
        return self.state.get(event.aggregate_id)

    def now(self):
        """Return the clock's time as an event time."""
        return utc_time(self.clock.seconds())

    def get(self, kind: str, image_id: str):
        """
        Return the image ``image_id`` of ``kind``.

        :raises ImageError: 404, there is no such image.
        """
        image = self.state.get(image_id)
        if image is None or image.kind != kind:
            raise ImageError(
                f"{KIND_NAMES[kind]} {image_id!r} not found", status=404
            )
        return image

    def of_kind(self, kind: str) -> list:
        """Return the images of ``kind``, sorted by name and id."""
        return sorted(
            (image for image in self.state.values() if image.kind == kind),
            key=lambda image: (image.name, image.id),
        )

    def create(self, kind: str, settings: dict) -> Deferred:
        """
        Record a new image with no file.

        :param settings: name, owner, group, description and tags.
        :return: a Deferred of the new image id, once recorded.
        """
        image_id = self.make_id()
        event = IMAGE_EVENTS[kind]["created"](
            aggregate_id=image_id, time=self.now(), **settings
        )
        return self.record(event).addCallback(lambda _: image_id)

    def modify(self, kind: str, image_id: str, settings: dict) -> Deferred:
        """Record an image's new settings, all of them."""
        self.get(kind, image_id)
        event = IMAGE_EVENTS[kind]["modified"](
            aggregate_id=image_id, time=self.now(), **settings
        )
        return self.record(event)

    def delete(self, kind: str, image_id: str) -> Deferred:
        """
        Record an image's deletion, then remove its file.

        :raises ImageError: 404 for an unknown image, 409 while an upload
            of it runs.
        """
        image = self.get(kind, image_id)
        if image_id in self.uploads:
            raise ImageError(
                f"{KIND_NAMES[kind]} {image_id} is being uploaded; delete "
                "it once the upload has finished or failed",
                status=409,
            )
        event = IMAGE_EVENTS[kind]["deleted"](
            aggregate_id=image_id, time=self.now()
        )
        recorded = self.record(event)
        if image.file is not None:
            recorded.addCallback(self._remove_file, kind, image_id)
        return recorded

    def _remove_file(self, result, kind, image_id):
        path = image_path(self.root, kind, image_id)
        removed = self.run_blocking(remove, path)
        removed.addErrback(
            lambda failure: self.log.failure(
                "Could not remove the file {path} of deleted image {id}; "
                "the next start removes it",
                failure,
                path=str(path),
                id=image_id,
            )
        )
        return removed.addCallback(lambda _: result)

    def file_path(self, kind: str, image_id: str) -> Path:
        """
        Return the path of an image's file.

        :raises ImageError: 404 for an unknown image, 409 for an image
            that has no file yet.
        """
        image = self.get(kind, image_id)
        if image.file is None:
            raise ImageError(
                f"{KIND_NAMES[kind]} {image_id} has no file yet: upload one "
                f"with POST /api/v1/{kind}_images/{image_id}/file/",
                status=409,
            )
        return image_path(self.root, kind, image_id)

    # References, for Cells.

    def serve_at(self, port: int, ca_certificate: bytes, secret: bytes):
        """
        Note where the image service listens, so that :meth:`reference`
        can tell Cells.

        :param ca_certificate: the cluster CA certificate, PEM.
        :param secret: the cluster secret, which signs image tokens.
        """
        self.service = (port, ca_certificate.decode("ascii"), secret)

    def reference(self, kind: str, image_id: str) -> dict:
        """
        Return the image reference that a Cell needs to download an
        image's file: ``id``, ``kind``, ``sha256``, ``size``, ``port``,
        ``ca_certificate`` and ``token``. The Cell downloads from Core's
        address as it sees it.

        The disk size of a disk image is in
        ``self.get(kind, image_id).file.virtual_size``.

        :raises ImageError: 400 for an unknown image, 409 for an image
            with no file yet, 503 when the image service is not
            listening.
        """
        image = self.state.get(image_id)
        if image is None or image.kind != kind:
            raise ImageError(
                f"invalid {kind} image {image_id!r}: no such image; list "
                f"them with GET /api/v1/{kind}_image_search/"
            )
        if image.file is None:
            raise ImageError(
                f"{KIND_NAMES[kind]} {image_id} has no file yet: upload one "
                "first",
                status=409,
            )
        if self.service is None:
            raise ImageError("the image service is not listening", 503)
        port, ca_certificate, secret = self.service
        return {
            "id": image_id,
            "kind": kind,
            "sha256": image.file.sha256,
            "size": image.file.size,
            "port": port,
            "ca_certificate": ca_certificate,
            "token": image_token(secret, kind, image_id, image.file.sha256),
        }

    # Uploads.

    def begin_upload(self, kind, image_id, content_type, length):
        """
        Start receiving an image's file.

        :param content_type: the request's ``Content-Type``, or ``None``.
        :param length: the request's ``Content-Length``, or ``None``.
        :return: the :class:`UploadBody` to receive the request body.
        :raises ImageError: 404 for an unknown image, 409 when it has a
            file or an upload of it runs, 400 for a form without a
            boundary, 507 when ``length`` exceeds the free space.
        """
        image = self.get(kind, image_id)
        if image_id in self.uploads:
            raise ImageError(
                f"{KIND_NAMES[kind]} {image_id} is being uploaded by "
                "another request; wait for it to finish",
                status=409,
            )
        if image.file is not None:
            raise ImageError(
                f"{KIND_NAMES[kind]} {image_id} has a file already; create "
                "a new image for another file",
                status=409,
            )
        self._check_space(kind, image_id, length)
        name = f"{PARTIAL_PREFIX}{image_id}-{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
        path = self.root / kind / name
        try:
            body = UploadBody(path, content_type, length, self._aborted)
        except InvalidUpload as error:
            raise ImageError(str(error)) from None
        self.uploads[image_id] = body
        self.log.info(
            "Receiving the file of {kind} image {id} ({length} bytes)",
            kind=kind,
            id=image_id,
            length=length,
        )
        return body

    def _check_space(self, kind, image_id, length) -> None:
        """Reject an upload larger than the free space, before it runs."""
        if length is None:
            return
        directory = self.root / kind
        free = free_space(directory)
        if length > free:
            raise ImageError(
                f"cannot store the {length}-byte upload of "
                f"{KIND_NAMES[kind]} {image_id}: {directory} has only "
                f"{free} bytes of free space; free some space there, "
                "then upload again",
                status=507,
            )

    def _aborted(self, body: UploadBody) -> None:
        image_id = self._forget(body)
        self.log.warn(
            "Upload of image {id} cut short after {received} bytes; its "
            "partial file was removed",
            id=image_id,
            received=body.received,
        )

    def _forget(self, body: UploadBody):
        for image_id, running in list(self.uploads.items()):
            if running is body:
                del self.uploads[image_id]
                return image_id
        return None

    def progress(self, image_id: str):
        """
        Return ``(received, length)`` bytes of an upload in progress, or
        ``None`` when no upload of the image runs.
        """
        body = self.uploads.get(image_id)
        if body is None:
            return None
        return body.received, body.length

    def finish_upload(self, kind, image_id, body: UploadBody) -> Deferred:
        """
        Check and store a completely received upload, then record it.

        :return: a Deferred of the image with its file; it fails with
            :class:`ImageError` (400) when the file is invalid, in which
            case neither the file nor a record is left.
        """
        try:
            body.end()
        except InvalidUpload as error:
            self._forget(body)
            remove(body.path)
            raise ImageError(str(error)) from None
        except UploadWriteError as error:
            self._forget(body)
            raise self._write_failed(kind, image_id, error) from None
        final = image_path(self.root, kind, image_id)
        stored = self.run_blocking(_store, body.path, final, FORMATS[kind])
        stored.addCallback(self._record_file, kind, image_id, final)
        stored.addErrback(self._upload_failed, kind, image_id)
        return stored.addBoth(self._done, body)

    def _write_failed(self, kind, image_id, error) -> ImageError:
        directory = self.root / kind
        self.log.error(
            "Could not write the upload of {kind} image {id} to "
            "{directory}: {error}",
            kind=kind,
            id=image_id,
            directory=str(directory),
            error=error.strerror,
        )
        if error.errno in _NO_SPACE:
            status, fix = 507, "free some space there, then upload again"
        else:
            status, fix = 503, "see Core's log"
        return ImageError(
            f"could not store the file of {KIND_NAMES[kind]} {image_id}: "
            f"{error.strerror} in {directory}; {fix}",
            status=status,
        )

    def _record_file(self, file, kind, image_id, final):
        event = IMAGE_EVENTS[kind]["uploaded"](
            aggregate_id=image_id, time=self.now(), **file
        )
        recorded = self.record(event)
        recorded.addErrback(self._unrecorded, final)
        return recorded.addCallback(self._uploaded)

    def _unrecorded(self, failure, final):
        remove(final)
        return failure

    def _uploaded(self, image):
        self.log.info(
            "Stored the file of {kind} image {id}: {size} bytes, SHA-256 "
            "{sha256}",
            kind=image.kind,
            id=image.id,
            size=image.file.size,
            sha256=image.file.sha256,
        )
        return image

    def _upload_failed(self, failure, kind, image_id):
        if failure.check(InvalidImage):
            self.log.info(
                "Rejected the upload of {kind} image {id}: {error}",
                kind=kind,
                id=image_id,
                error=str(failure.value),
            )
            raise ImageError(str(failure.value))
        if failure.check(OSError) and failure.value.errno in _NO_SPACE:
            raise self._write_failed(kind, image_id, failure.value)
        if failure.check(OSError):
            self.log.failure(
                "Could not store the file of {kind} image {id}",
                failure,
                kind=kind,
                id=image_id,
            )
            raise ImageError(
                f"could not store the file: {failure.value}; see Core's log",
                status=503,
            )
        return failure

    def _done(self, result, body):
        self._forget(body)
        return result

    def remove_leftovers(self) -> list[Path]:
        """
        Remove the files that no recorded image owns, at start-up.

        :return: the removed paths.
        """
        found = leftovers(self.root, self.state)
        for path in found:
            self.log.warn(
                "Removing {path}: no image in the journal owns it (an "
                "upload or deletion was cut short)",
                path=str(path),
            )
            remove(path)
        return found


def _store(partial: Path, final: Path, image_format: str) -> dict:
    """
    Hash, check, sync and rename an uploaded file; remove it if any step
    fails. Runs in a thread.

    :return: the fields of the ``...ImageUploaded`` event.
    """
    try:
        size = partial.stat().st_size
        sha256 = sha256_of(partial)
        virtual_size = inspect(partial, image_format, size)
        sync_file(partial)
        os.rename(partial, final)
        fsync_directory(final.parent)
    except BaseException:
        remove(partial)
        raise
    return {
        "sha256": sha256,
        "size": size,
        "format": image_format,
        "virtual_size": virtual_size,
    }
