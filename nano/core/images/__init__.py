"""
Core's images: disk images (qcow2) and media images (ISO), their files
and uploads (:class:`Images`), and the HTTPS image service from which
Cells download them (:class:`ImageService`).

For code that sends an image to a Cell, :meth:`Images.reference` returns
the image reference that a Cell's download needs.
"""

from ._formats import InvalidImage
from ._service import ImageService
from ._store import KIND_NAMES, ImageError, Images
from ._upload import FILE_FIELDS, InvalidUpload, UploadBody

__all__ = [
    "FILE_FIELDS",
    "KIND_NAMES",
    "ImageError",
    "ImageService",
    "Images",
    "InvalidImage",
    "InvalidUpload",
    "UploadBody",
]
