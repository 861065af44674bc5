"""
The image service: ``GET`` and ``HEAD /images/<kind>/<id>`` over HTTPS,
from which Cells download image files.

Each request needs the header ``Authorization: Nano-Image <token>``,
where the token is the hex HMAC-SHA256 of ``<kind>/<id>/<sha256>`` under
the cluster secret (:func:`nano.tls.image_token`). Core puts the token
in the image references that it sends to Cells, so only cluster members
can read images. Files are sent by twisted.web's static file producer,
a block at a time, with their ``Content-Length``.
"""

from twisted.web.resource import Resource
from twisted.web.static import File

from nano.tls import check_image_token

from .._logging import core_logger
from ._files import FORMATS, image_path

SCHEME = b"Nano-Image"
CONTENT_TYPE = b"text/plain; charset=utf-8"


class ImageService(Resource):
    """
    The root resource of the image service.

    :param images: the :class:`~nano.core.images.Images` store.
    :param secret: the cluster secret, which signs image tokens.
    """

    isLeaf = True
    log = core_logger()

    def __init__(self, images, secret: bytes):
        super().__init__()
        self.images = images
        self._secret = secret

    def render_GET(self, request):
        """Send an image file, or an error in plain text."""
        route = _route(request.postpath)
        if route is None:
            return _error(
                request,
                404,
                "not found: the image service serves only "
                "/images/disk/<id> and /images/media/<id>",
            )
        kind, image_id = route
        image = self.images.state.get(image_id)
        if image is None or image.kind != kind or image.file is None:
            return _error(request, 404, f"{kind} image {image_id} not found")
        if not self._authorized(request, kind, image):
            return _error(
                request,
                401,
                "missing or invalid image token: send Authorization: "
                "Nano-Image <token> from the image reference Core sent",
            )
        self.log.info(
            "Sending {kind} image {id} ({size} bytes) to {peer}",
            kind=kind,
            id=image_id,
            size=image.file.size,
            peer=request.getClientAddress().host,
        )
        path = image_path(self.images.root, kind, image_id)
        resource = File(str(path), defaultType="application/octet-stream")
        return resource.render(request)

    render_HEAD = render_GET

    def _authorized(self, request, kind, image) -> bool:
        header = request.getHeader(b"authorization") or b""
        scheme, _, token = header.partition(b" ")
        if scheme != SCHEME:
            return False
        return check_image_token(
            self._secret,
            kind,
            image.id,
            image.file.sha256,
            token.strip().decode("latin-1"),
        )


def _route(postpath):
    segments = [segment.decode("latin-1") for segment in postpath]
    if len(segments) != 3 or segments[0] != "images":
        return None
    _, kind, image_id = segments
    if kind not in FORMATS or not image_id:
        return None
    return kind, image_id


def _error(request, status: int, message: str) -> bytes:
    body = message.encode() + b"\n"
    request.setResponseCode(status)
    request.setHeader(b"content-type", CONTENT_TYPE)
    request.setHeader(b"content-length", b"%d" % len(body))
    return body
