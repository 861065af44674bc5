"""
Image routes: ``/api/v1/disk_images/``, ``/api/v1/media_images/`` and
their searches.

Creating an image makes a record with no file. ``POST .../file/``
uploads the file as a raw body, or as a ``multipart/form-data`` form
with the file in the field ``image`` (what Nano 1.x clients send) or
``file``. Uploads are signed as if their body were empty, because the
body is streamed to disk before it could be hashed. While an upload
runs, ``GET`` shows ``created: false`` and its progress.
"""

from datetime import datetime

from twisted.python.failure import Failure
from twisted.web.static import File

from nano.events import parse_time

from ..images import KIND_NAMES, ImageError, Images, UploadBody
from ._app import PREFIX
from ._auth import authenticate
from ._envelope import ApiError, bad_request, json_reply, success_body
from ._fields import check_keys, check_name, parse_object, text
from ._uploads import RejectedBody
from .guests import add_routes

MAX_NAME = 128
MAX_DESCRIPTION = 4096
MAX_TAGS = 32
MAX_TAG = 64
SETTINGS = ("name", "owner", "group", "description", "tags")
#: ``session`` is the Nano 1.x FrontEnd's login session, which Core
#: does not use: the FrontEnd filters by owner and group itself.
SEARCH_FILTERS = {
    "disk": ("owner", "group", "tags", "session"),
    "media": ("owner", "group", "session"),
}


def image_json(image, progress=None) -> dict:
    """
    Return an image as Nano 1.x clients read it, with its file's format,
    checksum and virtual size once it has one.

    :param progress: ``(received, length)`` bytes of a running upload.
    """
    data = {
        "id": image.id,
        "name": image.name,
        "owner": image.owner,
        "group": image.group,
        "description": image.description,
        "tags": list(image.tags),
        "create_time": _nano_time(image.create_time),
        "modify_time": _nano_time(image.modify_time),
        "created": image.file is not None,
        "size": 0,
        "progress": 0,
    }
    if image.file is not None:
        data["size"] = image.file.size
        data["progress"] = 100
        data["format"] = image.file.format
        data["virtual_size"] = image.file.virtual_size
        data["sha256"] = image.file.sha256
    elif progress is not None:
        received, length = progress
        data["uploaded"] = received
        if length:
            data["progress"] = min(99, received * 100 // length)
    return data


def _nano_time(value: str) -> str:
    """Return an RFC 3339 time as Nano 1.x shows it, in UTC."""
    return datetime.strftime(parse_time(value), "%Y-%m-%d %H:%M:%S")


class ImageRoutes:
    """The handlers of one kind of image's routes."""

    def __init__(self, api, images: Images, kind: str):
        self.api = api
        self.images = images
        self.kind = kind

    def list(self, body, query):
        """Return every image of this kind, sorted by name."""
        return [self._json(image) for image in self.images.of_kind(self.kind)]

    def search(self, body, query):
        """
        Return the images that match every filter given; an image
        matches ``tags`` when it has each tag listed.
        """
        accepted = SEARCH_FILTERS[self.kind]
        filters = {}
        for key, values in query.items():
            name = key.decode()
            if name not in accepted:
                raise bad_request(
                    f"unknown filter {name!r}: accepted filters are "
                    f"{', '.join(accepted)}"
                )
            filters[name] = [value.decode() for value in values]
        return [
            self._json(image)
            for image in self.images.of_kind(self.kind)
            if _matches(image, filters)
        ]

    def get(self, body, image_id, query):
        """Return one image, or the progress of its upload."""
        return self._json(self._existing(image_id))

    def create(self, body, query):
        """Record a new image with no file, and return its id."""
        fields = parse_object(body)
        accepted = (*SETTINGS, "guest") if self.kind == "disk" else SETTINGS
        check_keys(fields, accepted, ("name", "owner", "group"))
        if fields.get("guest"):
            # TODO: build a disk image from a guest's system volume.
            raise bad_request(
                "building an image from a guest is not supported yet: "
                "leave out guest, then upload a qcow2 file with POST "
                f"{PREFIX}/disk_images/<id>/file/"
            )
        settings = _settings(fields, {"description": "", "tags": ()})
        created = self.images.create(self.kind, settings)
        return created.addCallback(lambda image_id: {"id": image_id})

    def modify(self, body, image_id, query):
        """Change an image's record; fields left out keep their value."""
        image = self._existing(image_id)
        fields = parse_object(body)
        check_keys(fields, SETTINGS)
        current = {name: getattr(image, name) for name in SETTINGS}
        modified = self.images.modify(
            self.kind, image_id, _settings(fields, current)
        )
        return modified.addCallback(lambda _: "")

    def delete(self, body, image_id, query):
        """
        Delete an image and its file, unless a guest was created from
        it or has it in its CD-ROM drive.
        """
        self._check_unused(image_id)
        try:
            deleted = self.images.delete(self.kind, image_id)
        except ImageError as error:
            raise ApiError(error.status, str(error)) from None
        return deleted.addCallback(lambda _: "")

    def _check_unused(self, image_id):
        """:raises ApiError: 409, naming the guests that use the image."""
        if self.kind == "disk":
            users = _created_from(self.api, image_id)
            fix = "delete those guests first"
        else:
            users = _with_media(self.api, image_id)
            fix = (
                "eject it first with DELETE "
                f"{PREFIX}/instances/<guest id>/media"
            )
        if users:
            names = ", ".join(sorted(users))
            raise ApiError(
                409,
                f"{KIND_NAMES[self.kind]} {image_id} is in use by guests "
                f"{names}; {fix}",
            )

    def _existing(self, image_id):
        try:
            return self.images.get(self.kind, image_id)
        except ImageError as error:
            raise ApiError(error.status, str(error)) from None

    def _json(self, image) -> dict:
        return image_json(image, self.images.progress(image.id))

    # Files.

    def download(self, request, image_id):
        """Serve an image's file, streamed, after checking the signature."""
        try:
            authenticate(request, b"", self.api._credentials, self.api.clock)
            path = self.images.file_path(self.kind, image_id)
        except ImageError as error:
            return self._reply_error(
                ApiError(error.status, str(error)), request
            )
        except ApiError as error:
            return self._reply_error(error, request)
        # Klein leaves the route's trailing "" segment in postpath, which
        # File would look up as a child.
        request.postpath = []
        return File(str(path), defaultType="application/octet-stream")

    def upload(self, request, image_id):
        """Check and store an uploaded file that has arrived in full."""
        body = request.content
        if isinstance(body, RejectedBody):
            return self._reply_error(body.error, request)
        if not isinstance(body, UploadBody):
            self.api.log.error(
                "Upload of image {id} reached its route without an upload "
                "body: serve the API with nano.core.api.api_site",
                id=image_id,
            )
            return self._reply_error(
                ApiError(500, "internal error in Core; see Core's log"),
                request,
            )
        try:
            stored = self.images.finish_upload(self.kind, image_id, body)
        except ImageError as error:
            return self._reply_error(
                ApiError(error.status, str(error)), request
            )
        stored.addCallback(
            lambda _: json_reply(request, 200, success_body(""))
        )
        return stored.addErrback(self._upload_failed, request)

    def _upload_failed(self, failure, request):
        if failure.check(ImageError):
            error = failure.value
            failure = Failure(ApiError(error.status, str(error)))
        return self.api._reply_error(failure, request)

    def _reply_error(self, error: ApiError, request):
        return self.api._reply_error(Failure(error), request)


def _created_from(api, image_id) -> list[str]:
    """Return ``name (id)`` of each guest created from a disk image."""
    guests = getattr(api, "guests", None)
    if guests is None:
        return []
    return [
        f"{guest.name} ({guest.id})"
        for guest in guests.state.values()
        if guest.image == image_id
    ]


def _with_media(api, image_id) -> list[str]:
    """
    Return ``name (id)`` of each instance whose CD-ROM drive contains a
    media image, as the Cells last reported or Core last changed it.
    """
    # NOTE: a Cell that has not connected since Core started is not
    # asked, so its instances do not block the deletion.
    return [
        f"{instance.get('name')} ({instance_id})"
        for cell in api.cluster.cells()
        for instance_id, instance in cell.instances.items()
        if instance.get("media") == image_id
    ]


def _matches(image, filters) -> bool:
    for name, values in filters.items():
        if name == "session":
            continue
        if name == "tags":
            if not set(values) <= set(image.tags):
                return False
        elif getattr(image, name) != values[-1]:
            return False
    return True


def _settings(fields: dict, defaults: dict) -> dict:
    """
    Return an image's name, owner, group, description and tags: the
    request's values, else ``defaults``.
    """
    settings = dict(defaults)
    if "name" in fields:
        settings["name"] = _image_name(fields)
    for key in ("owner", "group"):
        if key in fields:
            settings[key] = check_name(key, text(fields, key))
    if "description" in fields:
        settings["description"] = _description(fields)
    if "tags" in fields:
        settings["tags"] = _tags(fields)
    return settings


def _image_name(fields) -> str:
    name = text(fields, "name")
    if not name.strip() or len(name) > MAX_NAME or not name.isprintable():
        raise bad_request(
            f"invalid name {name!r}: must be 1 to {MAX_NAME} printable "
            "characters, not only spaces"
        )
    return name


def _description(fields) -> str:
    description = text(fields, "description")
    if len(description) > MAX_DESCRIPTION:
        raise bad_request(
            f"invalid description: {len(description)} characters, at most "
            f"{MAX_DESCRIPTION} are accepted"
        )
    return description


def _tags(fields) -> tuple:
    tags = fields["tags"]
    if tags is None:
        return ()
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise bad_request(
            f"invalid tags {tags!r}: must be a list of at most {MAX_TAGS} "
            "strings"
        )
    for tag in tags:
        if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_TAG:
            raise bad_request(
                f"invalid tag {tag!r}: each must be a string of 1 to "
                f"{MAX_TAG} characters"
            )
    return tuple(tags)


def _file_routes(api, routes: ImageRoutes):
    """Serve the download and upload routes of one kind of image."""
    path = f"{PREFIX}/{routes.kind}_images/<image_id>/file/"
    api.app.route(
        path,
        methods=["GET", "HEAD"],
        endpoint=f"GET {routes.kind} image file",
    )(routes.download)
    api.app.route(
        path, methods=["POST"], endpoint=f"POST {routes.kind} image file"
    )(routes.upload)


def serve_images(api, images: Images) -> None:
    """
    Give ``api`` (a CoreAPI) its image store, as ``api.images``, and
    serve the image routes.
    """
    api.images = images
    disk = ImageRoutes(api, images, "disk")
    media = ImageRoutes(api, images, "media")
    add_routes(
        api,
        [
            ("GET", "/disk_image_search/", disk.search, 200),
            ("POST", "/disk_images/", disk.create, 201),
            ("GET", "/disk_images/<image_id>", disk.get, 200),
            ("PUT", "/disk_images/<image_id>", disk.modify, 200),
            ("DELETE", "/disk_images/<image_id>", disk.delete, 200),
            ("GET", "/media_images/", media.list, 200),
            ("GET", "/media_image_search/", media.search, 200),
            ("POST", "/media_images/", media.create, 201),
            ("GET", "/media_images/<image_id>", media.get, 200),
            ("PUT", "/media_images/<image_id>", media.modify, 200),
            ("DELETE", "/media_images/<image_id>", media.delete, 200),
        ],
    )
    _file_routes(api, disk)
    _file_routes(api, media)
