"""Core's API: system templates (list, get, create, modify, delete)."""

from api_helpers import ApiTestCase

from nano.core._defaults import DEFAULT_TEMPLATES, record_default_templates

TEMPLATES = "/api/v1/templates/"
UBUNTU = {
    "name": "Ubuntu 24.04",
    "admin": "ubuntu",
    "operating_system": "linux",
    "disk": "scsi",
    "network": "virtio",
    "display": "virtio",
    "control": "spice",
    "usb": "nec-xhci",
    "tablet": "virtio",
}


class TemplateTests(ApiTestCase):
    """Templates are journalled and read back in Nano 1.x's shape."""

    def create(self, body=UBUNTU):
        reply = self.call("POST", TEMPLATES, body)
        self.assert_ok(reply)
        return reply.data["id"]

    def test_create_and_get(self):
        """A created template reads back with its id and settings."""
        template_id = self.create()
        self.assertEqual(template_id, "t1")
        reply = self.call("GET", TEMPLATES + template_id)
        self.assert_ok(reply, {"id": "t1", **UBUNTU})

    def test_create_is_journalled(self):
        """A created template is in a fresh load of the journal."""
        template_id = self.create()
        template = self.reloaded_state().templates[template_id]
        self.assertEqual(template.name, "Ubuntu 24.04")
        self.assertEqual(template.control, "spice")

    def test_usb_and_tablet_optional(self):
        """USB and tablet default to none; "" means none (Nano 1.x)."""
        body = {key: UBUNTU[key] for key in UBUNTU if key != "usb"}
        body["tablet"] = ""
        template_id = self.create(body)
        reply = self.call("GET", TEMPLATES + template_id)
        self.assertEqual(reply.data["usb"], "none")
        self.assertEqual(reply.data["tablet"], "none")

    def test_every_choice_accepted(self):
        """Every documented value of each device setting is accepted."""
        from nano.core.api.templates import CHOICES

        for key, choices in CHOICES.items():
            for value in choices:
                with self.subTest(key=key, value=value):
                    body = {**UBUNTU, "name": f"{key}-{value}", key: value}
                    template_id = self.create(body)
                    template = self.live.current.state.templates[template_id]
                    self.assertEqual(getattr(template, key), value)

    def test_missing_fields(self):
        """Each required field left out gets 400 naming it."""
        for key in [
            "name",
            "admin",
            "operating_system",
            "disk",
            "network",
            "display",
            "control",
        ]:
            body = {name: UBUNTU[name] for name in UBUNTU if name != key}
            with self.subTest(key=key):
                reply = self.call("POST", TEMPLATES, body)
                self.assert_error(reply, 400, f"missing field {key!r}")
        self.assertEqual(dict(self.reloaded_state().templates), {})

    def test_invalid_values(self):
        """Each invalid value gets 400 naming the field and the choices."""
        cases = [
            ("operating_system", "bsd", "must be one of linux, windows"),
            ("disk", "virtio", "must be one of scsi, sata, ide"),
            ("network", "ne2k", "must be one of virtio, e1000, rtl8139"),
            ("display", "vmware", "vga, cirrus, virtio, qxl, none"),
            ("control", "rdp", "must be one of vnc, spice"),
            ("usb", "ehci", "must be one of nec-xhci, none"),
            ("tablet", "ps2", "must be one of usb, virtio, none"),
            ("disk", 1, "invalid disk 1"),
            ("control", "", 'invalid control ""'),
            ("name", "", "invalid name ''"),
            ("name", " padded", "no leading or trailing spaces"),
            ("name", "tab\there", "printable"),
            ("name", "n" * 65, "1 to 64"),
            ("name", None, "invalid name null: must be a string"),
            ("admin", "1root", "invalid admin '1root'"),
            ("admin", "root user", "account name"),
            ("admin", "a" * 33, "1 to 32"),
        ]
        for key, value, fragment in cases:
            with self.subTest(key=key, value=value):
                reply = self.call("POST", TEMPLATES, {**UBUNTU, key: value})
                self.assert_error(reply, 400, fragment)
        self.assertEqual(dict(self.reloaded_state().templates), {})

    def test_unknown_field(self):
        """A field templates do not have gets 400."""
        reply = self.call("POST", TEMPLATES, {**UBUNTU, "bios": "uefi"})
        self.assert_error(reply, 400, "unknown field 'bios'")

    def test_duplicate_name(self):
        """A second template with the same name gets 409."""
        first = self.create()
        reply = self.call("POST", TEMPLATES, UBUNTU)
        self.assert_error(reply, 409, "'Ubuntu 24.04' already exists", first)

    def test_list_sorted_by_name(self):
        """The list contains every template, sorted by name."""
        for name in ["b", "a"]:
            self.create({**UBUNTU, "name": name})
        reply = self.call("GET", TEMPLATES)
        self.assert_ok(reply)
        self.assertEqual([item["name"] for item in reply.data], ["a", "b"])
        self.assertEqual(sorted(reply.data[0]), sorted(["id", *UBUNTU]))

    def test_get_missing(self):
        """Getting an unknown template gets 404."""
        reply = self.call("GET", TEMPLATES + "nope")
        self.assert_error(reply, 404, "system template 'nope' not found")

    def test_modify(self):
        """Modify changes the given fields and keeps the others."""
        template_id = self.create()
        reply = self.call(
            "PUT", TEMPLATES + template_id, {"disk": "ide", "name": "Old"}
        )
        self.assert_ok(reply, "")
        template = self.reloaded_state().templates[template_id]
        self.assertEqual(template.disk, "ide")
        self.assertEqual(template.name, "Old")
        self.assertEqual(template.network, "virtio")

    def test_modify_keeps_own_name(self):
        """Sending a template's own name back is not a duplicate."""
        template_id = self.create()
        reply = self.call("PUT", TEMPLATES + template_id, UBUNTU)
        self.assert_ok(reply)

    def test_modify_to_taken_name(self):
        """Renaming to another template's name gets 409."""
        self.create()
        other = self.create({**UBUNTU, "name": "Other"})
        reply = self.call("PUT", TEMPLATES + other, {"name": UBUNTU["name"]})
        self.assert_error(reply, 409, "already exists")
        self.assertEqual(self.reloaded_state().templates[other].name, "Other")

    def test_modify_invalid(self):
        """Invalid modify values get 400 and change nothing."""
        template_id = self.create()
        reply = self.call("PUT", TEMPLATES + template_id, {"display": "3d"})
        self.assert_error(reply, 400, 'invalid display "3d"')
        template = self.reloaded_state().templates[template_id]
        self.assertEqual(template.display, "virtio")

    def test_modify_missing(self):
        """Modifying an unknown template gets 404."""
        reply = self.call("PUT", TEMPLATES + "nope", {"disk": "ide"})
        self.assert_error(reply, 404, "system template 'nope' not found")

    def test_delete(self):
        """A deleted template is gone from the state and the journal."""
        template_id = self.create()
        self.assert_ok(self.call("DELETE", TEMPLATES + template_id), "")
        self.assertEqual(dict(self.reloaded_state().templates), {})
        self.assert_error(self.call("GET", TEMPLATES + template_id), 404)

    def test_delete_missing(self):
        """Deleting an unknown template gets 404."""
        reply = self.call("DELETE", TEMPLATES + "nope")
        self.assert_error(reply, 404, "not found")


class DefaultTemplateTests(ApiTestCase):
    """The five Nano defaults are journalled on an empty journal only."""

    def record_defaults(self):
        recorded = record_default_templates(
            self.live, self.api.make_id, self.api.now()
        )
        self.clock.advance(0)
        return recorded

    def test_defaults_on_first_start(self):
        """An empty journal gets the five defaults, listed by the API."""
        self.successResultOf(self.record_defaults())
        reply = self.call("GET", TEMPLATES)
        self.assert_ok(reply)
        by_name = {item.pop("name"): item for item in reply.data}
        self.assertEqual(
            sorted(by_name),
            [
                "CentOS 6",
                "CentOS 7",
                "General",
                "Legacy",
                "Windows Server 2012",
            ],
        )
        legacy = by_name["Legacy"]
        self.assertEqual(legacy["disk"], "ide")
        self.assertEqual(legacy["network"], "rtl8139")
        self.assertEqual(legacy["display"], "cirrus")
        self.assertEqual(legacy["usb"], "none")
        self.assertEqual(legacy["tablet"], "none")
        windows = by_name["Windows Server 2012"]
        self.assertEqual(windows["admin"], "Administrator")
        self.assertEqual(windows["operating_system"], "windows")
        self.assertEqual(windows["network"], "e1000")
        self.assertEqual(by_name["CentOS 7"]["disk"], "scsi")
        self.assertEqual(len(self.reloaded_state().templates), 5)

    def test_defaults_are_valid_input(self):
        """Each default passes the API's own validation."""
        for settings in DEFAULT_TEMPLATES:
            with self.subTest(name=settings["name"]):
                self.create_via_api(settings)

    def create_via_api(self, settings):
        reply = self.call("POST", TEMPLATES, settings)
        self.assert_ok(reply)

    def test_no_defaults_after_first_start(self):
        """A journal with events gets no defaults, so deleted defaults
        stay deleted."""
        self.assert_ok(self.call("POST", "/api/v1/compute_pools/a"))
        self.assertIsNone(self.record_defaults())
        self.assertEqual(dict(self.reloaded_state().templates), {})
