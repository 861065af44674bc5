"""
System template routes: ``/api/v1/templates/``.

A system template maps an operating system name to the device set of
new instances, with the value names Nano 1.x uses. The value ``none``
turns a USB controller or tablet off. Nano 1.x clients send ``""`` for
that, which is accepted too.
"""

import re

from nano.events.core import (
    SystemTemplateCreated,
    SystemTemplateDeleted,
    SystemTemplateModified,
)

from ._envelope import bad_request, conflict, not_found
from ._fields import check_keys, choice, parse_object, text

#: Accepted values of each device setting.
CHOICES = {
    "operating_system": ("linux", "windows"),
    "disk": ("scsi", "sata", "ide"),
    "network": ("virtio", "e1000", "rtl8139"),
    "display": ("vga", "cirrus", "virtio", "qxl", "none"),
    "control": ("vnc", "spice"),
    "usb": ("nec-xhci", "none"),
    "tablet": ("usb", "virtio", "none"),
}
#: Settings that Nano 1.x clients may leave out or send as ``""``.
OFF_BY_DEFAULT = ("usb", "tablet")
FIELDS = ("name", "admin", *CHOICES)
REQUIRED = tuple(name for name in FIELDS if name not in OFF_BY_DEFAULT)

MAX_TEMPLATE_NAME = 64
_TEMPLATE_NAME = re.compile(r"[^\x00-\x1f\x7f]+")
#: An account name on Linux and Windows: a letter or ``_`` first.
_ADMIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


def template_routes(api):
    """Return the system template routes of ``api`` (a CoreAPI)."""
    routes = TemplateRoutes(api)
    return [
        ("GET", "/templates/", routes.list),
        ("GET", "/templates/<template_id>", routes.get),
        ("POST", "/templates/", routes.create),
        ("PUT", "/templates/<template_id>", routes.modify),
        ("DELETE", "/templates/<template_id>", routes.delete),
    ]


def template_json(template) -> dict:
    """Return a template as Nano 1.x clients read it."""
    return {
        "id": template.id,
        "name": template.name,
        "admin": template.admin,
        "operating_system": template.operating_system,
        "disk": template.disk,
        "network": template.network,
        "display": template.display,
        "control": template.control,
        "usb": template.usb,
        "tablet": template.tablet,
    }


class TemplateRoutes:
    """The handlers of the system template routes."""

    def __init__(self, api):
        self.api = api

    def list(self, body):
        """Return every template, sorted by name."""
        templates = sorted(
            self.api.state.templates.values(),
            key=lambda template: (template.name, template.id),
        )
        return [template_json(template) for template in templates]

    def get(self, body, template_id):
        """Return one template."""
        return template_json(self._existing(template_id))

    def create(self, body):
        """Create a template; reply with its new id."""
        fields = parse_object(body)
        check_keys(fields, FIELDS, REQUIRED)
        settings = {"usb": "none", "tablet": "none"}
        settings.update(read_settings(fields))
        self._check_unique(settings["name"], None)
        template_id = self.api.make_id()
        event = SystemTemplateCreated(
            aggregate_id=template_id, time=self.api.now(), **settings
        )
        recorded = self._record(template_id, settings["name"], event)
        return recorded.addCallback(lambda _: {"id": template_id})

    def modify(self, body, template_id):
        """Change a template; fields left out keep their value."""
        current = template_json(self._existing(template_id))
        fields = parse_object(body)
        check_keys(fields, FIELDS)
        settings = {name: current[name] for name in FIELDS}
        settings.update(read_settings(fields))
        self._check_unique(settings["name"], template_id)
        event = SystemTemplateModified(
            aggregate_id=template_id, time=self.api.now(), **settings
        )
        recorded = self._record(template_id, settings["name"], event)
        return recorded.addCallback(lambda _: "")

    def delete(self, body, template_id):
        """Delete a template."""
        template = self._existing(template_id)
        event = SystemTemplateDeleted(
            aggregate_id=template_id, time=self.api.now()
        )
        recorded = self._record(template_id, template.name, event)
        return recorded.addCallback(lambda _: "")

    def _existing(self, template_id):
        template = self.api.state.templates.get(template_id)
        if template is None:
            raise not_found(f"system template {template_id!r} not found")
        return template

    def _check_unique(self, name, template_id):
        for other in self.api.state.templates.values():
            if other.name == name and other.id != template_id:
                raise conflict(
                    f"a system template named {name!r} already exists "
                    f"(id {other.id}); choose another name"
                )

    def _record(self, template_id, name, event):
        keys = [f"system template {template_id}", f"template name {name!r}"]
        return self.api.record(keys, event)


def read_settings(fields: dict) -> dict:
    """
    Return the validated template settings present in ``fields``.

    :raises ApiError: 400, naming the field and what is accepted.
    """
    settings = {}
    if "name" in fields:
        settings["name"] = _template_name(text(fields, "name"))
    if "admin" in fields:
        settings["admin"] = _admin(text(fields, "admin"))
    for key, choices in CHOICES.items():
        if key not in fields:
            continue
        if key in OFF_BY_DEFAULT and fields[key] == "":
            settings[key] = "none"
        else:
            settings[key] = choice(fields, key, choices)
    return settings


def _template_name(name: str) -> str:
    if (
        len(name) > MAX_TEMPLATE_NAME
        or not _TEMPLATE_NAME.fullmatch(name)
        or name != name.strip()
    ):
        raise bad_request(
            f"invalid name {name!r}: must be 1 to {MAX_TEMPLATE_NAME} "
            "printable characters, with no leading or trailing spaces"
        )
    return name


def _admin(admin: str) -> str:
    if not _ADMIN.fullmatch(admin):
        raise bad_request(
            f"invalid admin {admin!r}: must be an account name of 1 to 32 "
            "letters, digits, '_', '.' or '-', starting with a letter or '_'"
        )
    return admin
