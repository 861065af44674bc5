"""Image references: what a Cell needs to download one image from Core."""

import ipaddress
import re

import attrs

KINDS = ("disk", "media")

_IMAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PEM = "-----BEGIN CERTIFICATE-----"


class ImageFetchError(Exception):
    """
    An image could not be downloaded: the message names the URL (or the
    invalid field of the image reference) and what went wrong.
    """


@attrs.frozen
class ImageReference:
    """
    A validated image reference, as Core sends it in messages.

    :ivar image_id: the image's id, used in the URL path.
    :ivar kind: ``"disk"`` or ``"media"``.
    :ivar sha256: the file's SHA-256, 64 lowercase hex digits.
    :ivar size: the file's size in bytes.
    :ivar port: the HTTPS port of Core's image service.
    :ivar ca_certificate: the cluster CA certificate (PEM), the only
        certificate the download trusts.
    :ivar token: the image token for the ``Authorization`` header.
    """

    image_id: str
    kind: str
    sha256: str
    size: int
    port: int
    ca_certificate: bytes = attrs.field(repr=False)
    token: str = attrs.field(repr=False)

    def url(self, host: str) -> str:
        """Return the image's download URL on Core's ``host``."""
        return (
            f"https://{_netloc(host)}:{self.port}"
            f"/images/{self.kind}/{self.image_id}"
        )


def parse_reference(value) -> ImageReference:
    """
    Check an image reference from a message and return it validated.

    :raises ImageFetchError: a field is missing or invalid; the message
        names the field, the value and what is accepted.
    """
    if not isinstance(value, dict):
        raise ImageFetchError(
            f"invalid image reference {type(value).__name__}: must be a "
            "JSON object with id, kind, sha256, size, port, "
            "ca_certificate and token"
        )
    return ImageReference(
        image_id=_field(
            value,
            "id",
            _valid_id,
            "1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit",
        ),
        kind=_field(value, "kind", KINDS.__contains__, "disk or media"),
        sha256=_field(value, "sha256", _hex64, "64 lowercase hex digits"),
        size=_field(value, "size", _size, "an integer of at least 0"),
        port=_field(value, "port", _port, "an integer from 1 to 65535"),
        ca_certificate=_field(
            value, "ca_certificate", _pem, "a PEM certificate (text)"
        ).encode("ascii"),
        token=_field(value, "token", _hex64, "64 lowercase hex digits"),
    )


def _field(reference: dict, name: str, check, accepted: str):
    if name not in reference:
        raise ImageFetchError(f"invalid image reference: missing {name}")
    value = reference[name]
    if not check(value):
        text = repr(value)
        if len(text) > 60:
            text = f"{text[:60]}... ({len(text)} characters)"
        raise ImageFetchError(
            f"invalid image reference: {name} {text}: must be {accepted}"
        )
    return value


def _valid_id(value) -> bool:
    return isinstance(value, str) and _IMAGE_ID.fullmatch(value) is not None


def _hex64(value) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size(value) -> bool:
    return _integer(value) and value >= 0


def _port(value) -> bool:
    return _integer(value) and 1 <= value <= 65535


def _pem(value) -> bool:
    return isinstance(value, str) and value.isascii() and _PEM in value


def _netloc(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]" if address.version == 6 else host


def check_host(host) -> str:
    """
    Return ``host`` if it is an IP address or a DNS name.

    :raises ImageFetchError: naming the invalid host.
    """
    if isinstance(host, str) and host.isascii() and host:
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        if re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host):
            return host
    raise ImageFetchError(
        f"invalid image server host {host!r}: must be an IP address, like "
        "10.213.0.1, or a DNS name"
    )
