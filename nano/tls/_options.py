"""Twisted TLS settings for the image service and its clients."""

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from twisted.internet import ssl


def server_options(
    certificate_pem: bytes, key_pem: bytes
) -> ssl.CertificateOptions:
    """
    Build the TLS settings of a server presenting ``certificate_pem``.

    The result is an ``IOpenSSLContextFactory`` that ``listenSSL``,
    ``SSL4ServerEndpoint`` and ``TLSMemoryBIOFactory`` accept.  Clients
    must speak TLS 1.2 or later.

    :raises ValueError: a PEM argument is damaged, or the key does not
        belong to the certificate.
    """
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise ValueError(
            "invalid server certificate: not a PEM certificate"
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ValueError(
            "invalid server key: not an unencrypted PEM private key"
        ) from None
    return _options(certificate, key)


def _options(certificate, key) -> ssl.CertificateOptions:
    options = ssl.CertificateOptions(
        privateKey=key,
        certificate=certificate,
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
    )
    try:
        # Twisted builds (and caches) the OpenSSL context on first use:
        # build it now, so a key from another pair fails here, not at the
        # first connection.
        options.getContext()
    except SSL.Error as error:
        raise ValueError(
            f"invalid server key: it does not match the certificate "
            f"({_reason(error)})"
        ) from None
    return options


def _reason(error: SSL.Error) -> str:
    return ", ".join(str(entry[-1]) for entry in error.args[0]) or "unknown"


def client_options(host: str, ca_certificate_pem: bytes):
    """
    Build the TLS settings of a client that trusts only
    ``ca_certificate_pem`` and checks that the server's certificate
    names ``host`` (a DNS name, or an IP address matched against the IP
    address SANs).

    :raises ValueError: ``ca_certificate_pem`` is not a PEM certificate.
    """
    try:
        authority = ssl.Certificate.loadPEM(ca_certificate_pem)
    except crypto.Error:
        raise ValueError(
            "invalid CA certificate: not a PEM certificate"
        ) from None
    return ssl.optionsForClientTLS(
        host,
        trustRoot=authority,
        extraCertificateOptions={"raiseMinimumTo": ssl.TLSVersion.TLSv1_2},
    )
