"""Image references and hosts that fetch_image rejects before connecting."""

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from nano.tls import ImageFetchError, fetch_image
from nano.tls._reference import parse_reference

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

VALID = {
    "id": "8a6f0c1e-3b7d-4a9e-9c51-2f4e6d8b0a13",
    "kind": "disk",
    "sha256": "ab" * 32,
    "size": 1024,
    "port": 5871,
    "ca_certificate": PEM,
    "token": "cd" * 32,
}


class ReferenceTests(SynchronousTestCase):
    """Each field of an image reference is checked, naming the field."""

    def reject(self, reference, host="127.0.0.1"):
        """Return the message of the error ``fetch_image`` fails with,
        asserting that it made no connection."""
        reactor = MemoryReactorClock()
        failure = self.failureResultOf(
            fetch_image(reactor, host, reference, "/nonexistent/image"),
            ImageFetchError,
        )
        self.assertEqual(reactor.tcpClients, [])
        return str(failure.value)

    def test_valid_reference(self):
        """A valid reference is parsed into its fields, and its URL uses
        the host and port."""
        image = parse_reference(VALID)
        self.assertEqual(image.image_id, VALID["id"])
        self.assertEqual(image.ca_certificate, PEM.encode())
        self.assertEqual(
            image.url("10.213.0.1"),
            f"https://10.213.0.1:5871/images/disk/{VALID['id']}",
        )
        self.assertEqual(
            image.url("fd00::1"),
            f"https://[fd00::1]:5871/images/disk/{VALID['id']}",
        )

    def test_not_an_object(self):
        """A reference that is not a JSON object is rejected."""
        self.assertIn("invalid image reference list", self.reject([]))

    def test_missing_fields(self):
        """Every field is required."""
        for name in VALID:
            reference = {**VALID}
            del reference[name]
            with self.subTest(name=name):
                self.assertEqual(
                    self.reject(reference),
                    f"invalid image reference: missing {name}",
                )

    def test_invalid_fields(self):
        """Invalid values are rejected, naming the field and value."""
        cases = [
            ("id", "../etc/passwd", "'../etc/passwd': must be 1-128"),
            ("id", "", "'': must be 1-128"),
            ("id", "a/b", "'a/b': must be"),
            ("kind", "iso", "'iso': must be disk or media"),
            ("sha256", "AB" * 32, "must be 64 lowercase hex digits"),
            ("sha256", "ab", "'ab': must be 64 lowercase hex digits"),
            ("size", -1, "-1: must be an integer of at least 0"),
            ("size", "1024", "'1024': must be an integer"),
            ("size", True, "True: must be an integer"),
            ("port", 0, "0: must be an integer from 1 to 65535"),
            ("port", 65536, "65536: must be an integer from 1 to 65535"),
            ("ca_certificate", "not pem", "'not pem': must be a PEM"),
            ("ca_certificate", b"x", "b'x': must be a PEM"),
            ("token", None, "None: must be 64 lowercase hex digits"),
        ]
        for name, value, expected in cases:
            with self.subTest(name=name, value=value):
                message = self.reject({**VALID, name: value})
                self.assertTrue(
                    message.startswith(f"invalid image reference: {name} "),
                    message,
                )
                self.assertIn(expected, message)

    def test_long_value_shortened(self):
        """A long invalid value is cut in the message."""
        message = self.reject({**VALID, "token": "z" * 1000})
        self.assertIn("... (1002 characters)", message)
        self.assertLess(len(message), 200)

    def test_invalid_host(self):
        """A host that is neither an address nor a DNS name is rejected."""
        for host in ["", "core lan", "10.213.0.1/24", None, "kärna"]:
            with self.subTest(host=host):
                self.assertEqual(
                    self.reject(VALID, host),
                    f"invalid image server host {host!r}: must be an IP "
                    "address, like 10.213.0.1, or a DNS name",
                )
