"""
Validators for the JSON objects that create and start requests carry: an
image reference (where a Cell downloads an image from Core), an
instance's network settings and its cloud-init settings.

Each check rejects the first wrong key, naming the key, the value and
what is accepted, so the decoding error shows what to fix.
"""

import ipaddress
import re

_HEX64 = re.compile(r"[0-9a-f]{64}")

#: Image kinds: a disk image (qcow2) or a media image (ISO).
IMAGE_KINDS = ("disk", "media")

#: Address providers: the Cell's DHCP server, or the cloud-init seed.
NETWORK_PROVIDERS = ("dhcp", "cloudinit")


def _reject(attribute, key, value, accepted):
    printed = repr(value)
    if len(printed) > 60:
        printed = printed[:57] + "..."
    return TypeError(
        f"invalid {attribute.name}.{key} {printed}: must be {accepted}"
    )


def _check_object(attribute, value, accepted):
    if not isinstance(value, dict):
        raise TypeError(
            f"invalid {attribute.name} {value!r}: must be {accepted}"
        )


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_ipv4(value):
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _check_keys(attribute, value, checks):
    for key, (accepts, accepted) in checks.items():
        if key not in value:
            raise TypeError(f"invalid {attribute.name}: missing key {key}")
        if not accepts(value[key]):
            raise _reject(attribute, key, value[key], accepted)


_IMAGE_CHECKS = {
    "id": (lambda v: isinstance(v, str) and v != "", "an image id"),
    "kind": (lambda v: v in IMAGE_KINDS, "'disk' or 'media'"),
    "sha256": (
        lambda v: isinstance(v, str) and _HEX64.fullmatch(v) is not None,
        "64 lower-case hex digits",
    ),
    "size": (lambda v: _is_int(v) and v > 0, "a size in bytes, 1 or more"),
    "port": (
        lambda v: _is_int(v) and 0 < v < 65536,
        "a TCP port from 1 to 65535",
    ),
    "ca_certificate": (
        lambda v: isinstance(v, str) and "BEGIN CERTIFICATE" in v,
        "a PEM certificate",
    ),
    "token": (
        lambda v: isinstance(v, str) and _HEX64.fullmatch(v) is not None,
        "64 lower-case hex digits",
    ),
}


def check_image_reference(attribute, value, kind):
    """
    Check an image reference of the given kind.

    :param kind: ``"disk"`` or ``"media"``, the kind the field takes.
    :raises TypeError: naming the first wrong key.
    """
    _check_object(attribute, value, "an image reference object")
    _check_keys(attribute, value, _IMAGE_CHECKS)
    if value["kind"] != kind:
        raise _reject(attribute, "kind", value["kind"], repr(kind))


def optional_disk_image(instance, attribute, value):
    """Accept a disk image reference or null."""
    if value is not None:
        check_image_reference(attribute, value, "disk")


def optional_media_image(instance, attribute, value):
    """Accept a media image reference or null."""
    if value is not None:
        check_image_reference(attribute, value, "media")


def media_image(instance, attribute, value):
    """Accept a media image reference."""
    check_image_reference(attribute, value, "media")


def _is_address_list(value):
    return isinstance(value, list) and all(_is_ipv4(item) for item in value)


_NETWORK_CHECKS = {
    "address": (_is_ipv4, "an IPv4 address"),
    "prefix": (
        lambda v: _is_int(v) and 0 < v <= 32,
        "a prefix length from 1 to 32",
    ),
    "gateway": (
        lambda v: v is None or _is_ipv4(v),
        "an IPv4 address or null",
    ),
    "dns": (_is_address_list, "a list of IPv4 addresses"),
    "provider": (
        lambda v: v in NETWORK_PROVIDERS,
        "'dhcp' or 'cloudinit'",
    ),
}


def optional_network(instance, attribute, value):
    """
    Accept an instance's network settings or null: ``address``,
    ``prefix``, ``gateway`` (or null), ``dns`` and ``provider``.
    """
    if value is None:
        return
    _check_object(attribute, value, "a network settings object or null")
    _check_keys(attribute, value, _NETWORK_CHECKS)


def _is_text(value):
    return isinstance(value, str)


_CLOUD_INIT_CHECKS = {
    "hostname": (_is_text, "a string"),
    "admin_name": (_is_text, "a string"),
    "admin_secret": (_is_text, "a string"),
    "root_enabled": (lambda v: isinstance(v, bool), "true or false"),
    "data_path": (_is_text, "a string"),
}


def optional_cloud_init(instance, attribute, value):
    """
    Accept an instance's cloud-init settings or null: ``hostname``,
    ``admin_name``, ``admin_secret``, ``root_enabled`` and ``data_path``.
    """
    if value is None:
        return
    _check_object(attribute, value, "a cloud-init settings object or null")
    _check_keys(attribute, value, _CLOUD_INIT_CHECKS)
