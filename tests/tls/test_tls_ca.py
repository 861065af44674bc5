"""The cluster CA: its files, their damage, and the certificates it issues."""

import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from twisted.internet.task import Clock

from nano.tls import CAError, ClusterCA

#: 2026-12-04 12:00 UTC, a fixed time for certificate validity checks.
NOW = 1796385600.0


def at(seconds):
    """Return a clock showing ``seconds`` since the epoch."""
    clock = Clock()
    clock.advance(seconds)
    return clock


def test_create_writes_both_files(tmp_path):
    """The first load creates the certificate and a key readable by its
    owner only, and leaves no temporary file behind."""
    ca = ClusterCA.load_or_create(tmp_path / "cert")

    names = sorted(path.name for path in (tmp_path / "cert").iterdir())
    assert names == ["ca.crt.pem", "ca.key.pem"]
    key_mode = stat.S_IMODE((tmp_path / "cert/ca.key.pem").stat().st_mode)
    assert key_mode == 0o600
    stored = (tmp_path / "cert/ca.crt.pem").read_bytes()
    assert stored == ca.certificate_pem


def test_create_makes_a_ca_certificate(tmp_path):
    """The CA certificate is self-signed, marked as a CA that signs
    certificates only, with an EC P-256 key."""
    ca = ClusterCA.load_or_create(tmp_path, clock=at(NOW))
    certificate = x509.load_pem_x509_certificate(ca.certificate_pem)

    constraints = certificate.extensions.get_extension_for_class(
        x509.BasicConstraints
    )
    assert constraints.critical
    assert constraints.value.ca
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.value.key_cert_sign
    assert not usage.value.digital_signature
    assert isinstance(certificate.public_key().curve, ec.SECP256R1)
    assert certificate.issuer == certificate.subject
    certificate.verify_directly_issued_by(certificate)
    start = datetime.fromtimestamp(NOW, UTC) - timedelta(minutes=5)
    assert certificate.not_valid_before_utc == start


def test_load_returns_the_same_ca(tmp_path):
    """A second load reads the files instead of making a new CA."""
    first = ClusterCA.load_or_create(tmp_path)
    second = ClusterCA.load_or_create(tmp_path)
    assert second.certificate_pem == first.certificate_pem


def test_two_cas_differ(tmp_path):
    """Separate clusters get CAs with different names and keys."""
    first_ca = ClusterCA.load_or_create(tmp_path / "first")
    second_ca = ClusterCA.load_or_create(tmp_path / "second")
    first = x509.load_pem_x509_certificate(first_ca.certificate_pem)
    second = x509.load_pem_x509_certificate(second_ca.certificate_pem)
    assert first.subject != second.subject
    assert first.public_key() != second.public_key()


@pytest.mark.parametrize("kept", ["ca.crt.pem", "ca.key.pem"])
def test_half_ca_rejected(tmp_path, kept):
    """With one file gone, loading names the missing file and the fix,
    instead of silently making a new CA."""
    ClusterCA.load_or_create(tmp_path)
    missing = ({"ca.crt.pem", "ca.key.pem"} - {kept}).pop()
    (tmp_path / missing).unlink()

    with pytest.raises(CAError) as caught:
        ClusterCA.load_or_create(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / missing}: missing")
    assert "remove both" in message
    assert not (tmp_path / missing).exists()


@pytest.mark.parametrize("name", ["ca.crt.pem", "ca.key.pem"])
def test_truncated_file_rejected(tmp_path, name):
    """A file cut short (a half write copied in by hand) gives an error
    naming the file and the fix."""
    ClusterCA.load_or_create(tmp_path)
    path = tmp_path / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(CAError) as caught:
        ClusterCA.load_or_create(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a")
    assert "damaged or cut short" in message
    assert "restore it from a backup" in message


def test_empty_certificate_rejected(tmp_path):
    """An empty certificate file is damage, not a missing CA."""
    ClusterCA.load_or_create(tmp_path)
    (tmp_path / "ca.crt.pem").write_bytes(b"")
    with pytest.raises(CAError, match="not a PEM certificate"):
        ClusterCA.load_or_create(tmp_path)


def test_key_readable_by_others_rejected(tmp_path):
    """A CA key that others can read is rejected with the chmod to run."""
    ClusterCA.load_or_create(tmp_path)
    key = tmp_path / "ca.key.pem"
    os.chmod(key, 0o644)

    with pytest.raises(CAError) as caught:
        ClusterCA.load_or_create(tmp_path)
    assert str(caught.value) == (
        f"{key}: the CA key is readable by others (mode 0644): "
        f"run chmod 600 {key}"
    )


def test_key_of_another_ca_rejected(tmp_path):
    """A key from another CA next to this certificate is rejected."""
    ClusterCA.load_or_create(tmp_path / "one")
    ClusterCA.load_or_create(tmp_path / "two")
    os.replace(tmp_path / "two/ca.key.pem", tmp_path / "one/ca.key.pem")

    with pytest.raises(CAError, match="does not belong to the certificate"):
        ClusterCA.load_or_create(tmp_path / "one")


def test_server_certificate_as_ca_rejected(tmp_path):
    """A server certificate and key in the CA's place are rejected."""
    ca = ClusterCA.load_or_create(tmp_path / "ca")
    certificate, key = ca.issue_server(["core.lan"], [])
    (tmp_path / "ca/ca.crt.pem").write_bytes(certificate)
    (tmp_path / "ca/ca.key.pem").write_bytes(key)

    with pytest.raises(CAError, match="not a CA certificate"):
        ClusterCA.load_or_create(tmp_path / "ca")


def test_expired_ca_rejected(tmp_path):
    """A CA past its end of validity is rejected with the date."""
    ClusterCA.load_or_create(tmp_path, clock=at(NOW))
    later = at(NOW + 3651 * 86400)

    with pytest.raises(CAError) as caught:
        ClusterCA.load_or_create(tmp_path, clock=later)
    assert "the CA certificate expired on 2036-12-01 12:00 UTC" in str(
        caught.value
    )


def test_issue_server_names(tmp_path):
    """The server certificate carries every IP address and DNS name as
    SANs, is signed by the CA and is for TLS servers only."""
    ca = ClusterCA.load_or_create(tmp_path)
    certificate_pem, key_pem = ca.issue_server(
        ["core.lan"], ["127.0.0.1", "10.213.0.1"]
    )
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    authority = x509.load_pem_x509_certificate(ca.certificate_pem)

    certificate.verify_directly_issued_by(authority)
    names = certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value
    assert names.get_values_for_type(x509.DNSName) == ["core.lan"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.213.0.1"),
    ]
    usage = certificate.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    ).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    constraints = certificate.extensions.get_extension_for_class(
        x509.BasicConstraints
    ).value
    assert not constraints.ca
    assert b"PRIVATE KEY" in key_pem


def test_issue_server_validity(tmp_path):
    """Validity starts five minutes early and lasts ``days``."""
    ca = ClusterCA.load_or_create(tmp_path, clock=at(NOW))
    certificate_pem, _ = ca.issue_server([], ["127.0.0.1"], days=30)
    certificate = x509.load_pem_x509_certificate(certificate_pem)

    now = datetime.fromtimestamp(NOW, UTC)
    assert certificate.not_valid_before_utc == now - timedelta(minutes=5)
    assert certificate.not_valid_after_utc == now + timedelta(days=30)


def test_issue_server_ends_with_ca(tmp_path):
    """A server certificate never outlives the CA that signed it."""
    ca = ClusterCA.load_or_create(tmp_path, clock=at(NOW))
    authority = x509.load_pem_x509_certificate(ca.certificate_pem)
    certificate_pem, _ = ca.issue_server([], ["127.0.0.1"], days=10000)
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    assert certificate.not_valid_after_utc == authority.not_valid_after_utc


def test_issue_server_keys_differ(tmp_path):
    """Each certificate gets a key of its own."""
    ca = ClusterCA.load_or_create(tmp_path)
    _, first = ca.issue_server([], ["127.0.0.1"])
    _, second = ca.issue_server([], ["127.0.0.1"])
    assert first != second


@pytest.mark.parametrize(
    ("names", "addresses", "message"),
    [
        ([], [], "at least one DNS name or IP address"),
        ([], ["10.213.0.300"], "invalid IP address '10.213.0.300'"),
        ([], ["core.lan"], "invalid IP address 'core.lan'"),
        (["core lan"], [], "invalid DNS name 'core lan'"),
        (["kärnan.lan"], [], "invalid DNS name 'kärnan.lan'"),
        ([""], [], "invalid DNS name ''"),
    ],
)
def test_issue_server_invalid(tmp_path, names, addresses, message):
    """Invalid names and addresses are rejected, naming the value."""
    ca = ClusterCA.load_or_create(tmp_path)
    with pytest.raises(ValueError, match=message):
        ca.issue_server(names, addresses)


def test_issue_server_invalid_days(tmp_path):
    """A validity of less than a day is rejected."""
    ca = ClusterCA.load_or_create(tmp_path)
    with pytest.raises(ValueError, match="invalid days 0: must be at least"):
        ca.issue_server([], ["127.0.0.1"], days=0)
