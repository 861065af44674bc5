"""
Instance routes: ``/api/v1/instances/<id>``, the power of a created
guest, asked of its Cell.

``GET`` reads the instance's status from the Cell, ``POST`` starts it
and ``DELETE`` stops it, or restarts it with ``reboot``; ``force`` cuts
the power rather than asking the guest OS through ACPI. ``POST`` with
``{"from_media": true, "source": <media image id>}`` boots it from that
ISO. ``/instances/<id>/media`` inserts (``POST {"source"}``) and ejects
(``DELETE``) the ISO in the instance's CD-ROM drive.
"""

from nano.messages import GetInstanceStatusRequest, StopInstanceRequest
from nano.projections.guests import CREATED

from .._guests import CellUnavailable, ImageUnavailable
from ._envelope import ApiError, bad_request, conflict, not_found
from ._fields import boolean, check_keys, parse_object, text
from .guests import cell_error, guest_json

START_FIELDS = ("from_media", "from_network", "source")
STOP_FIELDS = ("reboot", "force")
INSERT_FIELDS = ("source", "type")


def instance_routes(api, guests):
    """
    Return the instance routes of ``api`` over ``guests``, as
    ``(method, path, handler, status)``.
    """
    routes = InstanceRoutes(api, guests)
    return [
        ("GET", "/instances/<guest_id>", routes.status, 200),
        ("POST", "/instances/<guest_id>", routes.start, 200),
        ("DELETE", "/instances/<guest_id>", routes.stop, 200),
        ("POST", "/instances/<guest_id>/media", routes.insert_media, 200),
        ("DELETE", "/instances/<guest_id>/media", routes.eject_media, 200),
    ]


class InstanceRoutes:
    """The handlers of the instance routes."""

    def __init__(self, api, guests):
        self.api = api
        self.guests = guests

    def status(self, body, guest_id, query):
        """Return the guest with its instance's state on the Cell."""
        guest = self._created(guest_id)
        message = GetInstanceStatusRequest(instance_id=guest_id)
        replied = self._ask(guest, lambda: self.guests.request(guest, message))
        return replied.addCallback(self._status, guest)

    def _status(self, reply, guest):
        template = self.api.state.templates.get(guest.template)
        system = "" if template is None else template.operating_system
        state = reply.instance.get("state")
        address = self.guests.address(guest.id)
        data = guest_json(guest, state == "running", system, address)
        data["state"] = state
        data["cpu_time"] = reply.cpu_time
        media = reply.instance.get("media")
        data["media_attached"] = media is not None
        data["media_source"] = media or ""
        return data

    def start(self, body, guest_id, query):
        """Start a stopped instance, from a media image if asked."""
        fields = parse_object(body)
        check_keys(fields, START_FIELDS)
        if "from_network" in fields and boolean(fields, "from_network"):
            raise bad_request(
                "invalid from_network true: booting from the network is "
                "not supported; leave it out"
            )
        media = _boot_media(fields)
        guest = self._created(guest_id)
        task = self.guests.make_id()
        started = self._ask(
            guest, lambda: self.guests.start_instance(guest, task, media)
        )
        return started.addCallback(lambda _: "")

    def insert_media(self, body, guest_id, query):
        """Put a media image in the instance's CD-ROM drive."""
        fields = parse_object(body)
        check_keys(fields, INSERT_FIELDS, ("source",))
        if fields.get("type", 0) != 0:
            raise bad_request(
                f"invalid type {fields['type']!r}: must be 0, a media image"
            )
        media = text(fields, "source")
        guest = self._created(guest_id)
        inserted = self._ask(
            guest, lambda: self.guests.insert_media(guest, media)
        )
        return inserted.addCallback(lambda _: "")

    def eject_media(self, body, guest_id, query):
        """Empty the instance's CD-ROM drive."""
        check_keys(parse_object(body), ())
        guest = self._created(guest_id)
        ejected = self._ask(guest, lambda: self.guests.eject_media(guest))
        return ejected.addCallback(lambda _: "")

    def stop(self, body, guest_id, query):
        """Stop or restart a running instance."""
        fields = parse_object(body)
        check_keys(fields, STOP_FIELDS)
        flags = {key: boolean(fields, key) for key in fields}
        guest = self._created(guest_id)
        message = StopInstanceRequest(
            task_id=self.guests.make_id(), instance_id=guest_id, **flags
        )
        stopped = self._ask(guest, lambda: self.guests.request(guest, message))
        stopped.addCallback(self.guests.note_state, guest)
        return stopped.addCallback(lambda _: "")

    def _ask(self, guest, send):
        try:
            sent = send()
        except CellUnavailable as error:
            raise ApiError(
                503, f"{error}; retry once it has reconnected"
            ) from None
        except ImageUnavailable as error:
            raise bad_request(f"invalid source: {error}") from None
        return sent.addErrback(self._cell_failed, guest)

    def _cell_failed(self, failure, guest):
        error = cell_error(guest, failure)
        if error is None:
            return failure
        raise error

    def _created(self, guest_id):
        guest = self.guests.state.get(guest_id)
        if guest is None:
            raise not_found(f"instance {guest_id!r} not found")
        if guest.status != CREATED:
            raise conflict(
                f"guest {guest_id} is not created (it is {guest.status}); "
                "see GET /api/v1/guests/<id>"
            )
        return guest


def _boot_media(fields) -> str | None:
    """
    Return the media image id to boot from, or None.

    :raises ApiError: 400, ``from_media`` without a ``source``.
    """
    if "from_media" not in fields or not boolean(fields, "from_media"):
        return None
    if not fields.get("source"):
        raise bad_request(
            "missing field 'source': from_media needs the id of the media "
            "image to boot from"
        )
    return text(fields, "source")
