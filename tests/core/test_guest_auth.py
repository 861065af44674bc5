"""
Tests of GET and PUT /guests/<id>/auth: the administrator credentials
that go into a guest's cloud-init seed, with fake Cells.
"""

from pathlib import Path
from types import SimpleNamespace

import pytest
from cluster_helpers import CORE_ADDRESS
from guest_helpers import GuestTestCase

from nano.core.api import ApiError
from nano.core.api.guest_auth import check_cloud_init
from nano.events import read_lines, verify
from nano.events.core import CORE_EVENTS
from nano.events.guests import GuestAuthChanged
from nano.messages import CreateInstanceRequest, ModifyInstanceRequest
from nano.projections import LiveProjection, fold
from nano.projections.core import CoreProjection
from nano.projections.guests import Guest, GuestProjection


class GuestAuthTests(GuestTestCase):
    """
    The auth routes over a guest ``g1`` on ``Cell_1``, created with
    ``cloud_init``.
    """

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")
        self.create(auto_start=False, cloud_init={})
        self.advance(1)
        # The credentials that the create journalled.
        self.created = len(self.journalled())

    def tearDown(self):
        # The fake Cell's session logs the errors it replies.
        self.flushLoggedErrors(RuntimeError)
        super().tearDown()

    def put(self, body, guest_id="g1"):
        return self.call("PUT", f"/api/v1/guests/{guest_id}/auth", body)

    def get(self, guest_id="g1"):
        return self.call("GET", f"/api/v1/guests/{guest_id}/auth")

    def modify_requests(self):
        return [
            m for m in self.cell.received if type(m) is ModifyInstanceRequest
        ]

    def journalled(self):
        """Return the credentials journalled after the create."""
        changes = [
            (event.admin_name, event.admin_secret)
            for _, event in self.journal.read()
            if type(event) is GuestAuthChanged
        ]
        return changes[getattr(self, "created", 0) :]

    def test_put_then_get(self):
        """PUT journals and sends the credentials, and GET returns them."""
        body = {"user": "nano", "password": "Secret-42"}
        self.assert_ok(self.put(body), body)
        self.assert_ok(self.get(), body)
        (request,) = self.modify_requests()
        self.assertEqual(request.admin_name, "nano")
        self.assertEqual(request.admin_secret, "Secret-42")
        self.assertIsNone(request.cores)
        self.assertEqual(self.journalled(), [("nano", "Secret-42")])

    def test_random_password(self):
        """A missing password gets a random 12-character one."""
        reply = self.put({"user": "nano"})
        self.assert_ok(reply)
        password = reply.data["password"]
        self.assertEqual(len(password), 12)
        self.assertTrue(password.isalnum())
        (request,) = self.modify_requests()
        self.assertEqual(request.admin_secret, password)
        self.assertNotEqual(
            self.put({"user": "nano"}).data["password"], password
        )

    def test_default_user(self):
        """A missing user is the template's administrator, then kept."""
        self.assert_ok(self.put({"password": "first-one"}))
        self.assertEqual(self.get().data["user"], "root")
        self.assert_ok(self.put({"user": "ops", "password": "x1"}))
        reply = self.put({})
        self.assertEqual(reply.data["user"], "ops")

    def test_without_cloud_init(self):
        """A guest created without cloud_init has no seed to hold the
        credentials, so both routes get a 409 naming cloud_init."""
        reply = self.create(name="plain", auto_start=False)
        self.advance(1)
        guest_id = reply.data["id"]
        self.assert_error(self.get(guest_id), 409, "without cloud_init")
        reply = self.put({"user": "nano"}, guest_id)
        self.assert_error(reply, 409, "without cloud_init")
        self.assertEqual(self.modify_requests(), [])

    def test_unknown_guest(self):
        """Both routes give a 404 for an unknown guest."""
        self.assert_error(self.get("g9"), 404, "guest 'g9' not found")
        self.assert_error(self.put({}, "g9"), 404, "guest 'g9' not found")

    def test_invalid_fields(self):
        """Invalid users and passwords get a 400, and nothing is sent."""
        cases = [
            ({"user": "Root"}, "invalid user 'Root': must be a Linux user"),
            ({"user": 7}, "invalid user 7"),
            ({"password": "a\nb"}, "must not contain control characters"),
            ({"password": "x" * 257}, "must be at most 256"),
            ({"password": ""}, "1 to 256 characters"),
            ({"password": "a\x85b"}, "must not contain control characters"),
            ({"password": 12345678}, "invalid password"),
            ({"name": "root"}, "unknown field 'name'"),
        ]
        for body, fragment in cases:
            self.assert_error(self.put(body), 400, fragment)
        self.assertEqual(self.modify_requests(), [])
        self.assertEqual(self.journalled(), [])

    def test_password_not_in_error(self):
        """A rejected password is not repeated in the error."""
        reply = self.put({"password": "secret\tvalue"})
        self.assertNotIn("secret", reply.message)

    def test_cell_refusal_is_undone(self):
        """A change the Cell fails gets a 409, and the old values return."""
        self.assert_ok(self.put({"user": "nano", "password": "old-one"}))
        self.cell.fail["ModifyInstanceRequest"] = "no seed ISO"
        reply = self.put({"user": "ops", "password": "new-one"})
        self.assert_error(
            reply, 409, "Cell Cell_1 rejected the request", "no seed ISO"
        )
        self.assert_ok(self.get(), {"user": "nano", "password": "old-one"})
        self.assertEqual(
            self.journalled(),
            [("nano", "old-one"), ("ops", "new-one"), ("nano", "old-one")],
        )

    def test_cell_unavailable(self):
        """With the Cell away, PUT gets a 503 and journals nothing."""
        self.cell.stop()
        self.advance(30)
        reply = self.put({"user": "nano", "password": "pw-1"})
        self.assert_error(reply, 503, "not connected")
        self.assertEqual(self.journalled(), [])

    def test_kept_across_restart(self):
        """A restarted Core reads the credentials back from its journal."""
        self.assert_ok(self.put({"user": "nano", "password": "Secret-42"}))
        self.api.guests.stop()
        self.network.detach(CORE_ADDRESS)
        self.live = LiveProjection(CoreProjection(), self.journal)
        self.start_core()
        self.assert_ok(self.get(), {"user": "nano", "password": "Secret-42"})

    def test_secret_not_in_repr(self):
        """The password shows in no repr of the event or the guest."""
        self.assert_ok(self.put({"user": "nano", "password": "Secret-42"}))
        *_, event = [
            e for _, e in self.journal.read() if type(e) is GuestAuthChanged
        ]
        guest = self.api.guests.state["g1"]
        self.assertIsInstance(guest, Guest)
        self.assertNotIn("Secret-42", repr(event))
        self.assertNotIn("Secret-42", repr(guest))


class CreateWithCloudInitTests(GuestTestCase):
    """POST /guests/ with Nano 1.x's cloud_init object."""

    def setUp(self):
        super().setUp()
        self.cell = self.add_instance_cell("Cell_1")

    def create_request(self):
        [request] = [
            m for m in self.cell.received if type(m) is CreateInstanceRequest
        ]
        return request

    def test_settings_reach_cell(self):
        """The Cell gets the settings with the guest's name as host name."""
        settings = {
            "root_enabled": False,
            "admin_name": "nano",
            "admin_secret": "12345678",
            "data_path": "/srv/data",
        }
        reply = self.create(name="ops.web_1", cloud_init=settings)
        self.assertEqual(reply.status, 202, reply.message)
        self.advance(1)
        request = self.create_request()
        self.assertEqual(
            request.cloud_init, {"hostname": "ops.web_1", **settings}
        )
        auth = self.call("GET", "/api/v1/guests/g1/auth")
        self.assert_ok(auth, {"user": "nano", "password": "12345678"})

    def test_defaults(self):
        """Left-out settings take the template's admin and a password."""
        self.assertEqual(self.create(cloud_init={}).status, 202)
        self.advance(1)
        settings = self.create_request().cloud_init
        self.assertEqual(settings["admin_name"], "root")
        self.assertEqual(len(settings["admin_secret"]), 12)
        self.assertIs(settings["root_enabled"], True)
        self.assertEqual(settings["data_path"], "/opt/data")
        auth = self.call("GET", "/api/v1/guests/g1/auth").data
        self.assertEqual(auth["password"], settings["admin_secret"])

    def test_without_cloud_init(self):
        """A guest created without cloud_init sends none."""
        self.assertEqual(self.create().status, 202)
        self.advance(1)
        self.assertIsNone(self.create_request().cloud_init)

    def test_invalid_rejected(self):
        """An invalid cloud_init gets a 400 and nothing is journalled."""
        reply = self.create(cloud_init={"admin_name": "Bad"})
        self.assert_error(reply, 400, "invalid cloud_init.admin_name 'Bad'")
        self.assertEqual(self.api.guests.state, {})


SAMPLE = Path(__file__).parents[1] / "events" / "samples"
SAMPLE = SAMPLE / "core-guest-auth-v1"


def test_sample_journal_folds():
    """A frozen journal of GuestAuthChanged v1 folds to the last values."""
    assert verify(SAMPLE, CORE_EVENTS) == []
    pairs = [
        (line.seq, CORE_EVENTS.decode(line.record, f"{line.path}"))
        for line in read_lines(SAMPLE)
    ]
    guests = fold(GuestProjection(), pairs).state
    guest = guests["6f1d2c3b-0000-4000-8000-000000000004"]
    assert guest.admin_name == "nano"
    assert guest.admin_secret == "Secret-42"
    assert guest.status == "created"
    assert guest.cloud_init is False
    seeded = guests["6f1d2c3b-0000-4000-8000-000000000005"]
    assert seeded.cloud_init is True
    assert seeded.root_enabled is False
    assert seeded.data_path == "/srv/data"
    assert seeded.admin_name == "root"


def test_snapshot_keeps_credentials():
    """A guests snapshot keeps the credentials, and old ones load."""
    projection = GuestProjection()
    pairs = [
        (line.seq, CORE_EVENTS.decode(line.record, f"{line.path}"))
        for line in read_lines(SAMPLE)
    ]
    state = fold(projection, pairs).state
    written = projection.to_json(state)
    assert projection.from_json(written) == state
    for fields in written["guests"].values():
        del fields["admin_name"], fields["admin_secret"]
    for old in projection.from_json(written).values():
        assert old.admin_name is None
        assert old.admin_secret is None


#: A template whose administrator is root, as check_cloud_init reads it.
ROOT_TEMPLATE = SimpleNamespace(id="t1", admin="root")


def test_cloud_init_defaults():
    """An empty cloud_init gets root login, the user and a password."""
    settings = check_cloud_init({}, ROOT_TEMPLATE)
    assert settings["root_enabled"] is True
    assert settings["admin_name"] == "root"
    assert len(settings["admin_secret"]) == 12
    assert settings["data_path"] == "/opt/data"


def test_cloud_init_given():
    """Given values are kept."""
    given = {
        "root_enabled": False,
        "admin_name": "nano",
        "admin_secret": "12345678",
        "data_path": "/srv/data",
    }
    assert check_cloud_init(given, ROOT_TEMPLATE) == given


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("yes", "invalid cloud_init 'yes': must be an object"),
        ({"modules": []}, "unknown field 'modules'"),
        ({"root_enabled": 1}, "invalid cloud_init.root_enabled 1"),
        ({"admin_name": "Admin"}, "invalid cloud_init.admin_name 'Admin'"),
        ({"admin_secret": "a\nb"}, "must not contain control characters"),
        ({"data_path": "opt"}, "invalid cloud_init.data_path 'opt'"),
        ({"data_path": "/opt/../etc"}, "must be normalized: use '/etc'"),
        ({"data_path": "/proc/data"}, "must not be a system directory"),
        ({"data_path": "/"}, "invalid cloud_init.data_path '/'"),
    ],
)
def test_cloud_init_rejected(value, fragment):
    """Each invalid cloud_init field gets a 400 naming it."""
    with pytest.raises(ApiError) as caught:
        check_cloud_init(value, ROOT_TEMPLATE)
    assert caught.value.status == 400
    assert fragment in str(caught.value)
