"""
The message fields for instances from images and media: image
references, network and cloud-init settings, and the media requests.
"""

import orjson
from twisted.trial.unittest import SynchronousTestCase

from nano.fabric import MessageError
from nano.messages import (
    NANO_MESSAGES,
    CreateInstanceRequest,
    EjectMediaRequest,
    EjectMediaResponse,
    InsertMediaRequest,
    InsertMediaResponse,
    ModifyInstanceRequest,
    StartInstanceRequest,
)

ID = "3e1c5a54-8a0e-4c4c-9d3b-5f2b8f7d2a10"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def reference(kind="disk", **changes):
    """Return a valid image reference of ``kind`` with ``changes``."""
    value = {
        "id": "9b2f4c7e-7d51-4b8e-9a43-0f4d2b8e6c11",
        "kind": kind,
        "sha256": "ab" * 32,
        "size": 12 * 2**20,
        "port": 5871,
        "ca_certificate": CERTIFICATE,
        "token": "0f" * 32,
    }
    value.update(changes)
    return value


NETWORK = {
    "address": "10.213.7.10",
    "prefix": 24,
    "gateway": "10.213.7.1",
    "dns": ["10.213.7.1"],
    "provider": "dhcp",
}

CLOUD_INIT = {
    "hostname": "vm",
    "admin_name": "admin",
    "admin_secret": "s3cret",
    "root_enabled": False,
    "data_path": "/opt/data",
}

CREATE = {
    "type": "CreateInstanceRequest",
    "task_id": "t",
    "instance_id": ID,
    "name": "vm",
    "cores": 1,
    "memory": 2**27,
    "disks": [2**30],
}


def decode(value):
    """Decode a message from a JSON object."""
    message, _ = NANO_MESSAGES.decode(orjson.dumps(value))
    return message


def round_trip(message):
    """Encode and decode ``message``."""
    decoded, _ = NANO_MESSAGES.decode(NANO_MESSAGES.encode(message))
    return decoded


class CreateFieldTests(SynchronousTestCase):
    """CreateInstanceRequest's image, network and cloud-init fields."""

    def test_round_trip(self):
        """A create with every new field survives the wire unchanged."""
        request = CreateInstanceRequest(
            task_id="t",
            instance_id=ID,
            name="vm",
            cores=1,
            memory=2**27,
            disks=[2**30],
            mac="52:54:00:00:00:01",
            from_image=reference(),
            network=NETWORK,
            cloud_init=CLOUD_INIT,
        )
        self.assertEqual(round_trip(request), request)

    def test_old_sender_defaults(self):
        """A create without the new fields decodes with them null."""
        message = decode(CREATE)
        self.assertIsNone(message.from_image)
        self.assertIsNone(message.network)
        self.assertIsNone(message.cloud_init)

    def test_network_gateway_null(self):
        """A network without a gateway is accepted."""
        message = decode({**CREATE, "network": {**NETWORK, "gateway": None}})
        self.assertIsNone(message.network["gateway"])

    def test_invalid_values_named(self):
        """A wrong key is rejected naming the field, key and what fits."""
        cases = [
            ({"from_image": []}, "invalid from_image []: must be a JSON"),
            ({"from_image": reference(kind="media")}, "from_image.kind"),
            ({"from_image": reference(kind="tape")}, "'disk' or 'media'"),
            ({"from_image": reference(sha256="AB" * 32)}, "from_image.sha256"),
            ({"from_image": reference(size=0)}, "from_image.size 0"),
            ({"from_image": reference(port=70000)}, "from_image.port 70000"),
            ({"from_image": reference(token="x")}, "from_image.token 'x'"),
            (
                {"from_image": reference(ca_certificate="x")},
                "from_image.ca_certificate 'x': must be a PEM certificate",
            ),
            (
                {"network": {**NETWORK, "address": "10.213.7"}},
                "invalid network.address '10.213.7': must be an IPv4",
            ),
            ({"network": {**NETWORK, "prefix": 33}}, "network.prefix 33"),
            ({"network": {**NETWORK, "dns": "x"}}, "network.dns 'x'"),
            (
                {"network": {**NETWORK, "provider": "static"}},
                "network.provider 'static': must be 'dhcp' or 'cloudinit'",
            ),
            (
                {"cloud_init": {**CLOUD_INIT, "root_enabled": "no"}},
                "cloud_init.root_enabled 'no': must be true or false",
            ),
            ({"cloud_init": 5}, "invalid cloud_init 5"),
        ]
        for change, expected in cases:
            with self.assertRaises(MessageError) as caught:
                decode({**CREATE, **change})
            self.assertIn(expected, str(caught.exception))

    def test_missing_key_named(self):
        """A reference without a key is rejected naming the key."""
        value = reference()
        del value["token"]
        with self.assertRaises(MessageError) as caught:
            decode({**CREATE, "from_image": value})
        self.assertIn("from_image: missing key token", str(caught.exception))

    def test_long_value_shortened(self):
        """A long wrong value is cut short in the error."""
        with self.assertRaises(TypeError) as caught:
            CreateInstanceRequest(
                **{k: v for k, v in CREATE.items() if k != "type"},
                from_image=reference(ca_certificate="x" * 500),
            )
        self.assertLess(len(str(caught.exception)), 200)


class MediaMessageTests(SynchronousTestCase):
    """StartInstanceRequest.from_media and the media requests."""

    def test_start_from_media(self):
        """A start carries a media reference, and defaults to none."""
        request = StartInstanceRequest(
            task_id="t", instance_id=ID, from_media=reference("media")
        )
        self.assertEqual(round_trip(request), request)
        plain = decode(
            {"type": "StartInstanceRequest", "task_id": "t", "instance_id": ID}
        )
        self.assertIsNone(plain.from_media)

    def test_start_rejects_disk_image(self):
        """A disk image cannot be booted as media."""
        with self.assertRaises(TypeError) as caught:
            StartInstanceRequest(
                task_id="t", instance_id=ID, from_media=reference("disk")
            )
        self.assertIn("invalid from_media.kind 'disk'", str(caught.exception))

    def test_media_requests_round_trip(self):
        """Insert and eject requests and replies survive the wire."""
        messages = [
            InsertMediaRequest(
                task_id="t", instance_id=ID, media=reference("media")
            ),
            InsertMediaResponse(task_id="t", instance_id=ID),
            EjectMediaRequest(task_id="t", instance_id=ID),
            EjectMediaResponse(task_id="t", instance_id=ID),
        ]
        for message in messages:
            self.assertEqual(round_trip(message), message)

    def test_insert_requires_media(self):
        """An insert without media, or with null, is rejected."""
        base = {
            "type": "InsertMediaRequest",
            "task_id": "t",
            "instance_id": ID,
        }
        with self.assertRaises(MessageError) as caught:
            decode(base)
        self.assertIn("missing field(s) media", str(caught.exception))
        with self.assertRaises(MessageError):
            decode({**base, "media": None})


class ModifyCredentialTests(SynchronousTestCase):
    """ModifyInstanceRequest's administrator credentials."""

    def test_credentials_optional(self):
        """The credentials default to null and survive the wire."""
        plain = ModifyInstanceRequest(task_id="t", instance_id=ID)
        self.assertIsNone(plain.admin_name)
        self.assertIsNone(plain.admin_secret)
        request = ModifyInstanceRequest(
            task_id="t", instance_id=ID, admin_name="a", admin_secret="b"
        )
        self.assertEqual(round_trip(request), request)

    def test_credentials_must_be_text(self):
        """A credential that is not a string is rejected."""
        with self.assertRaises(TypeError) as caught:
            ModifyInstanceRequest(task_id="t", instance_id=ID, admin_name=1)
        self.assertIn("invalid admin_name 1", str(caught.exception))
