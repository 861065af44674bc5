"""
The cluster certificate authority, which signs Core's image service
certificate so that Cells can verify it.
"""

import ipaddress
import secrets
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nano.durable import write_atomic_bytes

CERTIFICATE_FILE = "ca.crt.pem"
KEY_FILE = "ca.key.pem"

#: Validity of a new CA certificate, in days.
CA_DAYS = 3650

#: Default validity of a server certificate, in days.  Core issues a new
#: one at each start.
# NOTE: nothing renews the certificate while Core runs, so a Core that
# runs longer than this serves an expired one until it is restarted.
SERVER_DAYS = 365

#: How far before the time of issue a certificate becomes valid, so that
#: a Cell whose clock runs a few minutes behind Core's accepts it.
CLOCK_SKEW = timedelta(minutes=5)


class CAError(Exception):
    """
    The CA files cannot be used: one is missing, damaged, expired, too
    widely readable, or the key does not match the certificate.

    The message names the file and the fix.
    """


class ClusterCA:
    """
    The cluster's certificate authority, kept as two PEM files.

    Keys are EC P-256 (ECDSA with SHA-256). Making one took 0.08 ms
    against 300 ms for RSA 3072 (cryptography 50 on a 2-core test VM).
    That matters because Core issues a server certificate at each start.
    OpenSSL, curl and Twisted clients accept these keys in TLS 1.2 and
    1.3.

    :ivar certificate_pem: the CA certificate (PEM), the only trust root
        of a Cell's image downloads.
    """

    def __init__(self, certificate, key, clock=None):
        """
        :param certificate: the CA's ``cryptography`` certificate.
        :param key: its private key (EC or RSA).
        :param clock: an ``IReactorTime`` for the validity periods;
            ``None`` means the system clock.
        """
        self._certificate = certificate
        self._key = key
        self._clock = clock
        self.certificate_pem = certificate.public_bytes(
            serialization.Encoding.PEM
        )

    @classmethod
    def load_or_create(cls, directory: Path, clock=None) -> "ClusterCA":
        """
        Load the CA from ``directory``, creating it there on first use.

        :param directory: contains ``ca.crt.pem`` and ``ca.key.pem`` (0600).
        :param clock: an ``IReactorTime``; ``None`` means the system clock.
        :raises CAError: only one of the two files exists, a file is
            damaged, the CA has expired, or the key is readable by others.
        """
        directory = Path(directory)
        paths = directory / CERTIFICATE_FILE, directory / KEY_FILE
        existing = [path for path in paths if path.exists()]
        if not existing:
            return cls._create(directory, clock)
        if len(existing) == 1:
            raise CAError(_half_message(existing[0], paths))
        return cls._load(directory, clock)

    @classmethod
    def _create(cls, directory, clock):
        now = _now(clock)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nano"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME,
                    f"Nano cluster CA {secrets.token_hex(4)}",
                ),
            ]
        )
        certificate = (
            _builder(name, name, key.public_key(), now, now + _days(CA_DAYS))
            .add_extension(x509.BasicConstraints(True, 0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        # Write the key first, because a certificate without its key is a CA
        # that can sign nothing.
        write_atomic_bytes(directory / KEY_FILE, _key_pem(key), 0o600)
        write_atomic_bytes(
            directory / CERTIFICATE_FILE,
            certificate.public_bytes(serialization.Encoding.PEM),
            0o644,
        )
        return cls(certificate, key, clock)

    @classmethod
    def _load(cls, directory, clock):
        certificate_path = directory / CERTIFICATE_FILE
        key_path = directory / KEY_FILE
        certificate = _load_certificate(certificate_path, key_path)
        key = _load_key(key_path, certificate_path)
        _check_pair(certificate, key, certificate_path, key_path)
        _check_valid(certificate, _now(clock), certificate_path, key_path)
        return cls(certificate, key, clock)

    def issue_server(
        self, names: list[str], addresses: list[str], days: int = SERVER_DAYS
    ) -> tuple[bytes, bytes]:
        """
        Issue a TLS server certificate signed by this CA.

        The certificate's validity ends after ``days`` or with the CA's,
        whichever is sooner.

        :param names: DNS names for the subject alternative names.
        :param addresses: IPv4 or IPv6 addresses, for IP address SANs.
        :return: the certificate and its new private key, both PEM.
        :raises ValueError: an invalid name, address or ``days``, or
            neither a name nor an address.
        """
        alternative_names = _alternative_names(names, addresses)
        if days < 1:
            raise ValueError(f"invalid days {days!r}: must be at least 1")
        now = _now(self._clock)
        expires = min(now + _days(days), self._certificate.not_valid_after_utc)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nano"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, (names + addresses)[0]
                ),
            ]
        )
        certificate = (
            _builder(
                subject,
                self._certificate.subject,
                key.public_key(),
                now,
                expires,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._key.public_key()
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(False, None), critical=True)
            .add_extension(_server_key_usage(), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(alternative_names, critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return (
            certificate.public_bytes(serialization.Encoding.PEM),
            _key_pem(key),
        )


def _now(clock) -> datetime:
    seconds = time.time() if clock is None else clock.seconds()
    return datetime.fromtimestamp(seconds, UTC)


def _days(days: int) -> timedelta:
    return timedelta(days=days)


def _builder(subject, issuer, public_key, now, expires):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(expires)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key),
            critical=False,
        )
    )


def _ca_key_usage() -> x509.KeyUsage:
    return _key_usage(digital_signature=False, certificates=True)


def _server_key_usage() -> x509.KeyUsage:
    return _key_usage(digital_signature=True, certificates=False)


def _key_usage(digital_signature: bool, certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificates,
        crl_sign=certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _alternative_names(names, addresses) -> x509.SubjectAlternativeName:
    if not names and not addresses:
        raise ValueError(
            "a server certificate needs at least one DNS name or IP address"
        )
    entries = []
    for name in names:
        if not isinstance(name, str) or not _valid_dns_name(name):
            raise ValueError(
                f"invalid DNS name {name!r} for a server certificate: must "
                "be ASCII letters, digits, hyphens and dots, like core.lan"
            )
        entries.append(x509.DNSName(name))
    for address in addresses:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            raise ValueError(
                f"invalid IP address {address!r} for a server certificate: "
                "must be like 10.213.0.1"
            ) from None
    return x509.SubjectAlternativeName(entries)


def _valid_dns_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return len(name) <= 253 and all(
        0 < len(label) <= 63
        and label.isascii()
        and label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    )


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _fix(certificate_path: Path, key_path: Path) -> str:
    return (
        f"restore it from a backup, or remove both {certificate_path} and "
        f"{key_path} to create a new CA at the next start"
    )


def _half_message(existing: Path, paths) -> str:
    missing = next(path for path in paths if path != existing)
    return f"{missing}: missing, but {existing} exists: {_fix(*paths)}"


def _read(path: Path, certificate_path: Path, key_path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CAError(
            f"{path}: cannot read: {error.strerror}: "
            f"{_fix(certificate_path, key_path)}"
        ) from None


def _load_certificate(certificate_path: Path, key_path: Path):
    data = _read(certificate_path, certificate_path, key_path)
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CAError(
            f"{certificate_path}: not a PEM certificate (damaged or cut "
            f"short): {_fix(certificate_path, key_path)}"
        ) from None
    if not _is_ca(certificate):
        raise CAError(
            f"{certificate_path}: not a CA certificate (basicConstraints "
            f"CA is not set): {_fix(certificate_path, key_path)}"
        )
    return certificate


def _is_ca(certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(
            x509.BasicConstraints
        )
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def _load_key(key_path: Path, certificate_path: Path):
    mode = _mode(key_path, certificate_path)
    if mode & 0o077:
        raise CAError(
            f"{key_path}: the CA key is readable by others (mode "
            f"{mode:04o}): run chmod 600 {key_path}"
        )
    data = _read(key_path, certificate_path, key_path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise CAError(
            f"{key_path}: not an unencrypted PEM private key (damaged or "
            f"cut short): {_fix(certificate_path, key_path)}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CAError(
            f"{key_path}: unsupported key type {type(key).__name__}: "
            "the CA key must be EC or RSA"
        )
    return key


def _mode(key_path: Path, certificate_path: Path) -> int:
    try:
        return stat.S_IMODE(key_path.stat().st_mode)
    except OSError as error:
        raise CAError(
            f"{key_path}: cannot read: {error.strerror}: "
            f"{_fix(certificate_path, key_path)}"
        ) from None


def _check_pair(certificate, key, certificate_path, key_path) -> None:
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if certificate.public_key().public_bytes(
        encoding, public
    ) != key.public_key().public_bytes(encoding, public):
        raise CAError(
            f"{key_path}: this key does not belong to the certificate in "
            f"{certificate_path}: {_fix(certificate_path, key_path)}"
        )


def _check_valid(certificate, now, certificate_path, key_path) -> None:
    expires = certificate.not_valid_after_utc
    if now >= expires:
        raise CAError(
            f"{certificate_path}: the CA certificate expired on "
            f"{expires:%Y-%m-%d %H:%M} UTC: remove both {certificate_path} "
            f"and {key_path} to create a new CA at the next start"
        )
