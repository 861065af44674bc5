"""
Core's REST API: the Nano v1 routes, response envelope and request
signatures, served by Klein.
"""

from .._addresses import Addresses
from ._app import PREFIX, CoreAPI, new_id
from ._envelope import ApiError
from ._uploads import api_site
from .address_pools import address_pool_routes
from .cells import cell_routes
from .guests import serve_guests
from .images import serve_images
from .pools import pool_routes
from .status import status_routes
from .templates import template_routes
from .zone import zone_routes


def build_api(
    live, credentials, clock, make_id=new_id, cluster=None, images=None
) -> CoreAPI:
    """
    Return the API with every route Core serves.

    :param live: Core's :class:`~nano.projections.LiveProjection`.
    :param credentials: API key by API id.
    :param clock: an ``IReactorTime``.
    :param cluster: the :class:`~nano.core._cluster.Cluster` of connected
        Cells, or ``None`` for one that has no fabric session.
    :param images: the :class:`~nano.core.images.Images` store, or
        ``None`` for an API without image routes.
    """
    api = CoreAPI(live, credentials, clock, make_id, cluster)
    api.add_routes(pool_routes(api))
    api.add_routes(cell_routes(api))
    api.add_routes(template_routes(api))
    api.add_routes(zone_routes(api))
    api.add_routes(status_routes(api))
    api.addresses = Addresses(live, clock)
    api.add_routes(address_pool_routes(api, api.addresses))
    serve_guests(api)
    if images is not None:
        serve_images(api, images)
    return api


__all__ = [
    "PREFIX",
    "ApiError",
    "CoreAPI",
    "api_site",
    "build_api",
    "new_id",
    "serve_images",
]
