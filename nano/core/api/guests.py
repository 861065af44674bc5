"""
Guest routes: ``/api/v1/guests/`` and ``/api/v1/guest_search/``.

Sizes are in bytes. Creating a guest replies 202 with its id as soon as
the start of its creation is on disk; ``GET /guests/<id>`` then shows
the progress, and the error if the creation failed and was rolled back.
A change of cores, memory or autostart is journalled, then sent to the
guest's Cell; if the Cell refuses it, the old value is journalled back
and the client gets a 409 with the Cell's message.

Every guest gets a MAC address (``ethernet_address``), random in
QEMU's ``52:54:00`` range unless the client gives one. With
``from_image`` (a disk image id), the system volume starts as a copy of
that image, which must be uploaded and no larger than the system disk.
"""

from nano import guest_rules
from nano.events.guests import GuestDeleted
from nano.fabric import RemoteError
from nano.projections.guests import CREATED, CREATING, ROLLED_BACK

from .._addresses import AddressError
from .._guests import CELL_ERRORS, CellUnavailable, ImageUnavailable
from .._scheduler import Demand, NoCellFits
from ._app import PREFIX
from ._envelope import ApiError, bad_request, conflict, not_found
from ._fields import boolean, check_keys, check_name, parse_object, text

MIB = 1024**2
GIB = 1024**3
TIB = 1024**4
MAX_CORES = 128
MIN_MEMORY = 64 * MIB
MAX_MEMORY = TIB
MIN_DISK = 64 * MIB
MAX_DISK = 16 * TIB
MAX_DISKS = 8
REQUIRED = ("name", "owner", "group", "pool", "cores", "memory", "disks")
CREATE_FIELDS = (
    *REQUIRED,
    "template",
    "auto_start",
    "from_image",
    "ethernet_address",
    "cloud_init",
)
SEARCH_FILTERS = ("pool", "cell", "owner", "group")


def guest_routes(api, guests):
    """
    Return the guest routes of ``api`` (a CoreAPI) over ``guests`` (a
    :class:`~nano.core._guests.Guests`), as ``(method, path, handler,
    status)``.
    """
    routes = GuestRoutes(api, guests)
    return [
        ("POST", "/guests/", routes.create, 202),
        ("GET", "/guests/<guest_id>", routes.get, 200),
        ("DELETE", "/guests/<guest_id>", routes.delete, 200),
        ("GET", "/guest_search/", routes.search, 200),
        ("PUT", "/guests/<guest_id>/name/", routes.rename, 200),
        ("PUT", "/guests/<guest_id>/cores", routes.set_cores, 200),
        ("PUT", "/guests/<guest_id>/memory", routes.set_memory, 200),
        ("PUT", "/guests/<guest_id>/auto_start", routes.set_auto_start, 200),
    ]


def add_routes(api, routes) -> None:
    """
    Serve ``(method, path, handler, status)`` routes behind the
    signature check, replying ``status`` on success. A handler also
    gets the query's arguments as ``query``.
    """
    for method, path, handler, status in routes:
        # NOTE: CoreAPI replies 200 to every success and passes no query
        # to its handlers, so these routes wrap its signature check.
        signed = api._signed(handler)

        def serve(request, _signed=signed, _status=status, **params):
            params["query"] = request.args
            reply = _signed(request, **params)
            if hasattr(reply, "addCallback"):
                return reply.addCallback(_success_status, request, _status)
            return _success_status(reply, request, _status)

        api.app.route(
            PREFIX + path, methods=[method], endpoint=f"{method} {path}"
        )(serve)


def _success_status(body, request, status):
    if request.code == 200:
        request.setResponseCode(status)
    return body


def progress(guest) -> int:
    """Return how far a guest's creation got, in percent."""
    if guest.status == CREATED:
        return 100
    total = 3 if guest.auto_start else 2
    if "address" in guest.steps:
        total += 1
    return min(99, len(guest.steps) * 100 // total)


def guest_json(guest, running: bool, system: str, address=None) -> dict:
    """
    Return a created guest as Nano 1.x clients read it.

    :param address: the IPv4 address Core allocated to it, or ``None``.
    """
    internal = {} if address is None else {"allocated_address": address}
    return {
        "id": guest.id,
        "name": guest.name,
        "created": True,
        "running": running,
        "owner": guest.owner,
        "group": guest.group,
        "pool": guest.pool,
        "cell": guest.cell,
        "cores": guest.cores,
        "memory": guest.memory,
        "total_disk": sum(guest.disks),
        "disks": list(guest.disks),
        "auto_start": guest.auto_start,
        "system": system,
        "template": guest.template,
        "create_time": guest.create_time,
        "ethernet_address": guest.mac,
        "from_image": guest.image,
        "internal": internal,
    }


def creation_json(guest) -> dict:
    """Return a guest that is not created: its progress or its error."""
    data = {
        "id": guest.id,
        "name": guest.name,
        "created": False,
        "progress": progress(guest),
        "status": guest.status,
    }
    if guest.error is not None:
        data["error"] = guest.error
    return data


def cell_error(guest, failure) -> ApiError | None:
    """
    Return the API error for a request the guest's Cell failed, or
    ``None`` for a failure of another kind.
    """
    error = failure.value
    if failure.check(CellUnavailable):
        return ApiError(503, f"{error}; retry once it has reconnected")
    if failure.check(RemoteError):
        return conflict(f"Cell {guest.cell} rejected the request: {error}")
    if failure.check(*CELL_ERRORS):
        return ApiError(503, f"Cell {guest.cell} did not reply: {error}")
    return None


class GuestRoutes:
    """The handlers of the guest routes."""

    def __init__(self, api, guests):
        self.api = api
        self.guests = guests
        self._pending = set()

    def create(self, body, query):
        """Validate a new guest, choose its Cell and start its creation."""
        fields = parse_object(body)
        check_keys(fields, CREATE_FIELDS, REQUIRED)
        config = self._config(fields)
        demand = Demand(
            config["cores"], config["memory"], sum(config["disks"])
        )
        try:
            config["cell"] = self.guests.choose_cell(config["pool"], demand)
        except NoCellFits as error:
            raise ApiError(503, str(error)) from None
        self._check_address(config["pool"])
        key = (config["pool"], config["name"])
        if key in self._pending:
            raise conflict(
                f"guest {config['name']!r} is being created in compute "
                f"pool {config['pool']!r}"
            )
        self._pending.add(key)
        guest_id = self.guests.make_id()
        created = self.guests.create(guest_id, **config)
        created.addBoth(self._release, key)
        return created.addCallback(lambda _: {"id": guest_id})

    def _release(self, result, key):
        self._pending.discard(key)
        return result

    def _check_address(self, pool_name) -> None:
        """Reject a guest whose compute pool's address pool is full."""
        pool = self.api.state.pools.get(pool_name)
        addresses = self.guests.addresses
        if pool is None or pool.network is None or addresses is None:
            return
        try:
            addresses.check_free(pool.network)
        except AddressError as error:
            raise conflict(str(error)) from None

    def _config(self, fields) -> dict:
        name = check_name("guest", text(fields, "name"))
        pool = text(fields, "pool")
        state = self.api.state
        if pool not in state.pools:
            raise bad_request(
                f"invalid pool {pool!r}: no such compute pool; list them "
                "with GET /api/v1/compute_pools/"
            )
        if not state.pools[pool].enabled:
            raise conflict(f"compute pool {pool!r} is disabled")
        self._check_unique(name, pool)
        disks = _disks(fields)
        template = self._template(fields)
        return {
            "name": name,
            "owner": check_name("owner", text(fields, "owner")),
            "group": check_name("group", text(fields, "group")),
            "pool": pool,
            "cores": _whole(fields, "cores", 1, MAX_CORES),
            "memory": _whole(fields, "memory", MIN_MEMORY, MAX_MEMORY),
            "disks": disks,
            "template": template,
            "auto_start": (
                boolean(fields, "auto_start")
                if "auto_start" in fields
                else False
            ),
            "mac": self._mac(fields),
            "image": self._image(fields, disks[0]),
            **self._cloud_init(fields, template),
        }

    def _cloud_init(self, fields, template_id) -> dict:
        """
        Return the cloud-init fields of the guest's creation, or none
        without ``cloud_init``: the seed settings, and the credentials
        for a :class:`~nano.events.guests.GuestAuthChanged`.
        """
        from .guest_auth import check_cloud_init

        if "cloud_init" not in fields:
            return {}
        try:
            guest_rules.check_hostname(fields["name"])
        except guest_rules.InvalidGuestSetting:
            raise bad_request(
                f"invalid name {fields['name']!r} with cloud_init: the "
                "guest's host name is the name without any 'group.' "
                "prefix, and must be 1 to 63 letters, digits and '-', "
                "without '.': rename the guest"
            ) from None
        template = self.api.state.templates[template_id]
        settings = check_cloud_init(fields["cloud_init"], template)
        return {
            "cloud_init": True,
            "root_enabled": settings["root_enabled"],
            "data_path": settings["data_path"],
            "credentials": (settings["admin_name"], settings["admin_secret"]),
        }

    def _mac(self, fields) -> str:
        if "ethernet_address" not in fields:
            return self.guests.new_mac()
        mac = text(fields, "ethernet_address").lower()
        try:
            guest_rules.check_mac(mac, "ethernet_address")
        except guest_rules.InvalidGuestSetting as error:
            raise bad_request(
                f"{error.message}; or leave ethernet_address out for a "
                "random one"
            ) from None
        if any(guest.mac == mac for guest in self.guests.state.values()):
            raise conflict(f"ethernet_address {mac} is taken by another guest")
        return mac

    def _image(self, fields, system_disk: int) -> str | None:
        """
        Return the ``from_image`` id, checked.

        :raises ApiError: 400, the image is unknown, has no file yet, or
            is larger than the system disk.
        """
        if fields.get("from_image") in (None, ""):
            return None
        image_id = text(fields, "from_image")
        try:
            reference = self.guests.image_reference("disk", image_id)
        except ImageUnavailable as error:
            raise bad_request(f"invalid from_image: {error}") from None
        size = reference.get("virtual_size", reference["size"])
        if size > system_disk:
            raise bad_request(
                f"invalid from_image {image_id!r}: the image is {size} "
                f"bytes, larger than the system disk of {system_disk} "
                "bytes; ask for a larger first disk"
            )
        return image_id

    def _check_unique(self, name, pool, guest_id=None) -> None:
        """
        :raises ApiError: 409, another guest of ``pool`` is named
            ``name``, or is being created with it.
        """
        for guest in self.guests.state.values():
            if (
                guest.name == name
                and guest.pool == pool
                and guest.status != ROLLED_BACK
                and guest.id != guest_id
            ):
                raise conflict(
                    f"guest {name!r} already exists in compute pool {pool!r}"
                )
        if (pool, name) in self._pending:
            raise conflict(
                f"guest {name!r} is being created in compute pool {pool!r}"
            )

    def _template(self, fields) -> str:
        templates = self.api.state.templates
        if "template" not in fields:
            raise bad_request(
                "missing field 'template': give a system template id from "
                "GET /api/v1/templates/"
            )
        template = text(fields, "template")
        if template not in templates:
            raise bad_request(
                f"invalid template {template!r}: no such system template; "
                "list them with GET /api/v1/templates/"
            )
        return template

    def get(self, body, guest_id, query):
        """Return a guest, or the progress of its creation."""
        guest = self._existing(guest_id)
        if guest.status != CREATED:
            return creation_json(guest)
        return guest_json(
            guest,
            self._running(guest),
            self._system(guest),
            self.guests.address(guest.id),
        )

    def delete(self, body, guest_id, query):
        """Delete a guest's instance on its Cell, then the guest."""
        fields = parse_object(body)
        check_keys(fields, ("force",))
        guest = self._existing(guest_id)
        if guest.status == ROLLED_BACK:
            return self._forget(guest)
        if guest.status != CREATED:
            what = "created" if guest.status == CREATING else "rolled back"
            raise conflict(
                f"guest {guest_id} is being {what}; delete it once "
                "GET /api/v1/guests/<id> shows it has finished"
            )
        try:
            deleted = self.guests.delete(guest)
        except CellUnavailable as error:
            raise ApiError(
                503, f"{error}; retry once it has reconnected"
            ) from None
        deleted.addErrback(self._cell_failed, guest)
        return deleted.addCallback(lambda _: "")

    def _forget(self, guest):
        event = GuestDeleted(aggregate_id=guest.id, time=self.api.now())
        return self.guests.record(event).addCallback(lambda _: "")

    def _cell_failed(self, failure, guest):
        error = cell_error(guest, failure)
        if error is None:
            return failure
        raise error

    # Changes.

    def rename(self, body, guest_id, query):
        """Give a guest a new name, unique in its compute pool."""
        fields = parse_object(body)
        check_keys(fields, ("name",), ("name",))
        name = check_name("guest", text(fields, "name"))
        guest = self._changeable(guest_id)
        if name == guest.name:
            return ""
        self._check_unique(name, guest.pool, guest.id)
        renamed = self.guests.rename(guest, name)
        return renamed.addCallback(lambda _: "")

    def set_cores(self, body, guest_id, query):
        """Change a guest's vCPUs, at once if asked and it runs."""
        fields = parse_object(body)
        check_keys(fields, ("cores", "immediate"), ("cores",))
        cores = _whole(fields, "cores", 1, MAX_CORES)
        guest = self._changeable(guest_id)
        immediate = _immediate(fields)
        self._check_fits(guest, cores=cores)
        return self._ask(
            guest, lambda: self.guests.set_cores(guest, cores, immediate)
        )

    def set_memory(self, body, guest_id, query):
        """Change a guest's memory, at once if asked and it runs."""
        fields = parse_object(body)
        check_keys(fields, ("memory", "immediate"), ("memory",))
        memory = _whole(fields, "memory", MIN_MEMORY, MAX_MEMORY)
        guest = self._changeable(guest_id)
        immediate = _immediate(fields)
        self._check_fits(guest, growth=memory - guest.memory)
        return self._ask(
            guest, lambda: self.guests.set_memory(guest, memory, immediate)
        )

    def set_auto_start(self, body, guest_id, query):
        """Change whether a guest's instance starts with its Cell."""
        fields = parse_object(body)
        check_keys(fields, ("enable",), ("enable",))
        enable = boolean(fields, "enable")
        guest = self._changeable(guest_id)
        return self._ask(
            guest, lambda: self.guests.set_auto_start(guest, enable)
        )

    def _check_fits(self, guest, cores=0, growth=0) -> None:
        """
        :param growth: the bytes of memory the guest would add.
        :raises ApiError: 409, the guest's Cell reported fewer than
            ``cores`` cores, or less free memory than ``growth``. A Cell
            that has not reported is not checked.
        """
        for cell in self.api.cluster.candidates(guest.pool):
            if cell.name != guest.cell or cell.cores == 0:
                continue
            if cores > cell.cores:
                reason = f"has {cell.cores} cores, fewer than {cores}"
            elif growth > cell.memory_available:
                reason = (
                    f"has {cell.memory_available} bytes of memory "
                    f"available, and the guest would grow by {growth}"
                )
            else:
                return
            raise conflict(f"Cell {cell.name} of guest {guest.id} {reason}")

    def _changeable(self, guest_id):
        guest = self._existing(guest_id)
        if guest.status != CREATED:
            raise conflict(
                f"guest {guest_id} is not created (it is {guest.status}); "
                "change it once GET /api/v1/guests/<id> shows it created"
            )
        return guest

    def _ask(self, guest, send):
        try:
            sent = send()
        except CellUnavailable as error:
            raise ApiError(
                503, f"{error}; retry once it has reconnected"
            ) from None
        sent.addErrback(self._cell_failed, guest)
        return sent.addCallback(lambda _: "")

    def search(self, body, query):
        """Return the guests that match every filter given."""
        filters = {}
        for key, values in query.items():
            name = key.decode()
            if name not in SEARCH_FILTERS:
                raise bad_request(
                    f"unknown filter {name!r}: accepted filters are "
                    f"{', '.join(SEARCH_FILTERS)}"
                )
            filters[name] = values[-1].decode()
        return [
            self._listed(guest)
            for guest in sorted(
                self.guests.state.values(), key=lambda g: (g.name, g.id)
            )
            if all(getattr(guest, k) == v for k, v in filters.items())
        ]

    def _listed(self, guest):
        if guest.status != CREATED:
            return {**creation_json(guest), "pool": guest.pool}
        return guest_json(
            guest,
            self._running(guest),
            self._system(guest),
            self.guests.address(guest.id),
        )

    def _existing(self, guest_id):
        guest = self.guests.state.get(guest_id)
        if guest is None:
            raise not_found(f"guest {guest_id!r} not found")
        return guest

    def _running(self, guest) -> bool:
        cell = self.api.cluster.cell(guest.cell)
        if cell is None:
            return False
        instance = cell.instances.get(guest.id) or {}
        return instance.get("state") == "running"

    def _system(self, guest) -> str:
        template = self.api.state.templates.get(guest.template)
        return "" if template is None else template.operating_system


def _whole(fields, key, low, high) -> int:
    value = fields[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise bad_request(
            f"invalid {key} {value!r}: must be a whole number from {low} "
            f"to {high}"
        )
    return value


def _immediate(fields) -> bool:
    return boolean(fields, "immediate") if "immediate" in fields else False


def _disks(fields) -> list[int]:
    disks = fields["disks"]
    if not isinstance(disks, list) or not 1 <= len(disks) <= MAX_DISKS:
        raise bad_request(
            f"invalid disks {disks!r}: must be a list of 1 to {MAX_DISKS} "
            "sizes in bytes, the system disk first"
        )
    for size in disks:
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or not MIN_DISK <= size <= MAX_DISK
        ):
            raise bad_request(
                f"invalid disk size {size!r}: each must be a whole number "
                f"of bytes from {MIN_DISK} (64 MiB) to {MAX_DISK} (16 TiB)"
            )
    return disks


def image_reference(api, kind: str, image_id: str) -> dict:
    """
    Return the reference of an image of ``api.images`` (the image store,
    which may be served after the guests), with its ``virtual_size``.

    :raises ImageUnavailable: the image is unknown, has no file, or Core
        serves no images.
    """
    from ..images import ImageError

    images = getattr(api, "images", None)
    if images is None:
        raise ImageUnavailable(
            f"{kind} image {image_id!r} cannot be used: Core has no image "
            "service"
        )
    try:
        reference = images.reference(kind, image_id)
    except ImageError as error:
        raise ImageUnavailable(str(error)) from None
    virtual_size = images.get(kind, image_id).file.virtual_size
    return {**reference, "virtual_size": virtual_size}


def serve_guests(api):
    """
    Give ``api`` (a CoreAPI) its guests, as ``api.guests``, and serve
    the guest and instance routes; roll back the creations that the
    journal shows unfinished.
    """
    from .._guests import Guests
    from .guest_auth import serve_guest_auth
    from .instances import instance_routes

    guests = Guests(
        api.live,
        api.cluster,
        api.clock,
        image_reference=lambda kind, image_id: image_reference(
            api, kind, image_id
        ),
        addresses=getattr(api, "addresses", None),
    )
    api.guests = guests
    add_routes(api, guest_routes(api, guests))
    add_routes(api, instance_routes(api, guests))
    serve_guest_auth(api, guests)
    guests.resume()
    return guests
