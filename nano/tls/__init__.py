"""
TLS for the image service: the cluster CA, server and client settings,
image tokens and image downloads.

Core keeps a :class:`ClusterCA` and issues its image service a server
certificate at each start (:meth:`ClusterCA.issue_server`,
:func:`server_options`). Cells trust only the CA certificate sent to
them in each image reference and check the server's name or IP address
(:func:`client_options`, :func:`fetch_image`). A download also needs
an :func:`image_token` made with the cluster secret.
"""

from ._addresses import AddressListError, host_addresses
from ._ca import CAError, ClusterCA
from ._fetch import fetch_image
from ._options import client_options, server_options
from ._reference import ImageFetchError
from ._tokens import check_image_token, image_token

__all__ = [
    "AddressListError",
    "CAError",
    "ClusterCA",
    "ImageFetchError",
    "check_image_token",
    "client_options",
    "fetch_image",
    "host_addresses",
    "image_token",
    "server_options",
]
