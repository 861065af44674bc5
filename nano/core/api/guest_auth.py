"""
A guest's administrator credentials: ``GET`` and ``PUT
/api/v1/guests/<id>/auth``, with ``{"user", "password"}`` as in Nano 1.x.

A change is journalled as :class:`~nano.events.guests.GuestAuthChanged`,
then sent to the guest's Cell, which rebuilds the guest's cloud-init
seed ISO. If the Cell fails, the old credentials are journalled back
and the client gets the Cell's message. The password is stored and
returned in plain text, as Nano 1.x does: anyone with API credentials
for the guest, or read access to Core's journal, can read it.
"""

import secrets
import string

from twisted.internet.defer import DeferredLock, maybeDeferred
from twisted.logger import Logger

from nano import guest_rules
from nano.events.guests import GuestAuthChanged
from nano.messages import ModifyInstanceRequest
from nano.projections.guests import CREATED

from .._guests import CellUnavailable
from ._envelope import ApiError, bad_request, conflict, not_found
from ._fields import check_keys, parse_object
from .guests import add_routes, cell_error

PASSWORD_LENGTH = 12
CLOUD_INIT_FIELDS = ("root_enabled", "admin_name", "admin_secret", "data_path")
# Letters and digits without 0/O/o and 1/l/I, which are easily misread.
_ALPHABET = "".join(
    c for c in string.ascii_letters + string.digits if c not in "0Oo1lI"
)


def generate_password(length=PASSWORD_LENGTH) -> str:
    """Generate a random password with the :mod:`secrets` module."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def check_user(value, setting="user") -> str:
    """
    Return ``value`` if it is a Linux user name, by the rule the Cell
    checks too.

    :raises ApiError: 400, naming the value and the rule.
    """
    return _shared(guest_rules.check_admin_name, value, setting)


def check_password(value, setting="password") -> str:
    """
    Return ``value`` if it is 1 to 256 characters without control
    characters, by the rule the Cell checks too.

    :raises ApiError: 400, with a message that does not show the value.
    """
    if not isinstance(value, str) or not value:
        raise bad_request(
            f"invalid {setting}: must be a string of 1 to "
            f"{guest_rules.MAX_PASSWORD} characters, or left out for a "
            "random one"
        )
    return _shared(guest_rules.check_admin_secret, value, setting)


def check_data_path(value, setting="cloud_init.data_path") -> str:
    """
    Return ``value`` if the Cell can mount the data disks there: a
    normalized absolute path of letters, digits, ``.``, ``_``, ``-`` and
    ``/`` that is not a system directory.

    :raises ApiError: 400, naming the value and the rule.
    """
    return _shared(guest_rules.check_data_path, value, setting)


def _shared(check, value, setting):
    try:
        return check(value, setting)
    except guest_rules.InvalidGuestSetting as error:
        raise bad_request(error.message) from None


def check_cloud_init(value, template) -> dict:
    """
    Check the ``cloud_init`` object of a create request (Nano 1.x:
    ``root_enabled``, ``admin_name``, ``admin_secret``, ``data_path``,
    each optional) and return it with the defaults filled in: root login
    enabled, the template's administrator, a random password and
    ``/opt/data``.

    :param template: the guest's system template.
    :raises ApiError: 400, naming the field; a password is not shown.
    """
    if not isinstance(value, dict):
        raise bad_request(
            f"invalid cloud_init {value!r}: must be an object with any of "
            f"{', '.join(CLOUD_INIT_FIELDS)}"
        )
    check_keys(value, CLOUD_INIT_FIELDS)
    root_enabled = value.get("root_enabled", True)
    if not isinstance(root_enabled, bool):
        raise bad_request(
            f"invalid cloud_init.root_enabled {root_enabled!r}: must be "
            "true or false"
        )
    if "admin_name" in value:
        admin_name = check_user(value["admin_name"], "cloud_init.admin_name")
    else:
        admin_name = template_admin(template)
    secret = value.get("admin_secret") or generate_password()
    return {
        "root_enabled": root_enabled,
        "admin_name": admin_name,
        "admin_secret": check_password(secret, "cloud_init.admin_secret"),
        "data_path": check_data_path(
            value.get("data_path") or guest_rules.DEFAULT_DATA_PATH
        ),
    }


def template_admin(template) -> str:
    """
    Return the template's administrator as the guest's Linux user.

    :raises ApiError: 400, when it is no Linux user name (a template may
        name a Windows one such as ``Administrator``), naming the template
        and the field that overrides it.
    """
    try:
        return guest_rules.check_admin_name(template.admin)
    except guest_rules.InvalidGuestSetting:
        raise bad_request(
            f"template {template.id!r} names the administrator "
            f"{template.admin!r}, which is not a Linux user name for "
            "cloud-init: set cloud_init.admin_name (a user name of 1 to 32 "
            "lower-case letters, digits, '_' or '-'), or change the "
            "template's admin"
        ) from None


class GuestAuth:
    """
    Changes of guests' credentials, each journalled and then applied by
    the guest's Cell. Changes to one guest run one at a time, so that an
    undo restores the values the change replaced.

    :param guests: Core's :class:`~nano.core._guests.Guests`.
    """

    log = Logger()

    def __init__(self, guests):
        self.guests = guests
        self._locks: dict[str, DeferredLock] = {}

    def change(self, guest, user: str, password: str):
        """
        Journal ``user`` and ``password`` for ``guest``, then send them
        to its Cell.

        :raises CellUnavailable: at once, with nothing journalled.
        :return: a Deferred that fails as the Cell's request did.
        """
        self.guests.peer(guest)
        lock = self._locks.setdefault(guest.id, DeferredLock())
        changed = lock.run(self._change, guest.id, user, password)
        return changed.addBoth(self._forget_lock, guest.id, lock)

    def _change(self, guest_id, user, password):
        guest = self.guests.state[guest_id]
        old = (guest.admin_name, guest.admin_secret)
        task_id = self.guests.make_id()
        recorded = self._record(guest_id, task_id, user, password)
        message = ModifyInstanceRequest(
            task_id=task_id,
            instance_id=guest_id,
            admin_name=user,
            admin_secret=password,
        )

        def send(_):
            sent = maybeDeferred(self.guests.request, guest, message)
            return sent.addErrback(self._undo, guest_id, task_id, old)

        return recorded.addCallback(send)

    def _record(self, guest_id, task_id, user, password):
        return self.guests.record(
            GuestAuthChanged(
                aggregate_id=guest_id,
                time=self.guests.now(),
                task_id=task_id,
                admin_name=user,
                admin_secret=password,
            )
        )

    def _undo(self, failure, guest_id, task_id, old):
        self.log.warn(
            "Cell rejected new credentials of guest {guest}: {error}; "
            "recording the old ones again",
            guest=guest_id,
            error=failure.getErrorMessage(),
        )
        undone = self._record(guest_id, task_id, *old)
        return undone.addCallback(lambda _: failure)

    def _forget_lock(self, result, guest_id, lock):
        if not lock.locked and not lock.waiting:
            self._locks.pop(guest_id, None)
        return result


class GuestAuthRoutes:
    """The handlers of ``/guests/<id>/auth``."""

    def __init__(self, api, guests):
        self.api = api
        self.guests = guests
        self.auth = GuestAuth(guests)

    def get(self, body, guest_id, query):
        """Return the guest's administrator and password."""
        guest = self._with_seed(guest_id)
        if guest.admin_name is None:
            raise conflict(
                f"guest {guest_id} has no administrator credentials "
                "recorded: set them with PUT /api/v1/guests/<id>/auth"
            )
        return {"user": guest.admin_name, "password": guest.admin_secret}

    def put(self, body, guest_id, query):
        """
        Set the guest's administrator and password. A missing user keeps
        the current one or takes the template's administrator. A missing
        password gets a random one.
        """
        fields = parse_object(body)
        check_keys(fields, ("user", "password"))
        guest = self._with_seed(guest_id)
        if "user" in fields:
            user = check_user(fields["user"])
        else:
            user = self._default_user(guest)
        if "password" in fields:
            password = check_password(fields["password"])
        else:
            password = generate_password()

        if guest.status != CREATED:
            raise conflict(
                f"guest {guest_id} is not created (it is {guest.status}); "
                "change it once GET /api/v1/guests/<id> shows it created"
            )
        try:
            changed = self.auth.change(guest, user, password)
        except CellUnavailable as error:
            raise ApiError(
                503, f"{error}; retry once it has reconnected"
            ) from None

        changed.addErrback(self._cell_failed, guest)
        return changed.addCallback(
            lambda _: {"user": user, "password": password}
        )

    def _default_user(self, guest) -> str:
        if guest.admin_name is not None:
            return guest.admin_name
        template = self.api.state.templates.get(guest.template)
        return "root" if template is None else template_admin(template)

    def _with_seed(self, guest_id):
        """
        Return the guest if it has a cloud-init seed, which is where its
        Cell sets the credentials.

        :raises ApiError: 404, no such guest; 409, it was created without
            ``cloud_init``.
        """
        guest = self._existing(guest_id)
        if not guest.cloud_init:
            raise conflict(
                f"guest {guest_id} was created without cloud_init, so it "
                "has no seed to hold administrator credentials: set them "
                "inside the guest, or create a guest with cloud_init"
            )
        return guest

    def _existing(self, guest_id):
        guest = self.guests.state.get(guest_id)
        if guest is None:
            raise not_found(f"guest {guest_id!r} not found")
        return guest

    def _cell_failed(self, failure, guest):
        error = cell_error(guest, failure)
        if error is None:
            return failure
        raise error


def serve_guest_auth(api, guests) -> GuestAuthRoutes:
    """Serve ``/guests/<id>/auth`` of ``api`` over ``guests``."""
    routes = GuestAuthRoutes(api, guests)
    add_routes(
        api,
        [
            ("GET", "/guests/<guest_id>/auth", routes.get, 200),
            ("PUT", "/guests/<guest_id>/auth", routes.put, 200),
        ],
    )
    return routes
