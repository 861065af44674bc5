"""
TLS handshakes between :func:`server_options` and :func:`client_options`
on real sockets on 127.0.0.1.
"""

import pytest
import pytest_twisted
from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory, Protocol

from nano.tls import ClusterCA, client_options, server_options

pytestmark = pytest.mark.slow


class Answer(Protocol):
    """Server side: reply ``pong`` to anything."""

    def dataReceived(self, data):
        self.transport.write(b"pong")


class Ask(Protocol):
    """Client side: send ``ping``; fire ``answered`` with the reply."""

    def __init__(self):
        self.answered = Deferred()

    def connectionMade(self):
        self.transport.write(b"ping")

    def dataReceived(self, data):
        self.answered.callback(data)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        if not self.answered.called:
            self.answered.errback(reason)


@pytest.fixture
def listen(tmp_path):
    """Return a function that serves TLS with a certificate issued by a
    CA in ``tmp_path`` and returns the port; stops the servers after."""
    ports = []

    def listen_with(names, addresses, ca=None):
        ca = ca or ClusterCA.load_or_create(tmp_path / "server-ca")
        options = server_options(*ca.issue_server(names, addresses))
        port = reactor.listenSSL(
            0, Factory.forProtocol(Answer), options, interface="127.0.0.1"
        )
        ports.append(port)
        return port.getHost().port, ca

    yield listen_with
    for port in ports:
        port.stopListening()


def ask(port, host, ca_certificate_pem):
    """Connect to 127.0.0.1:``port`` as a client of ``host`` that trusts
    ``ca_certificate_pem``; return a Deferred of the server's reply."""
    endpoint = wrapClientTLS(
        client_options(host, ca_certificate_pem),
        TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5),
    )
    protocol = Ask()
    connected = endpoint.connect(Factory.forProtocol(lambda: protocol))
    connected.addCallback(lambda _: protocol.answered)
    return connected


@pytest_twisted.inlineCallbacks
def test_handshake_by_ip_address(listen):
    """A client that trusts the CA accepts a certificate naming the IP
    address it connected to."""
    port, ca = listen([], ["127.0.0.1"])
    reply = yield ask(port, "127.0.0.1", ca.certificate_pem)
    assert reply == b"pong"


@pytest_twisted.inlineCallbacks
def test_handshake_by_dns_name(listen):
    """A client that trusts the CA accepts a certificate naming the DNS
    name it asked for."""
    port, ca = listen(["localhost"], [])
    reply = yield ask(port, "localhost", ca.certificate_pem)
    assert reply == b"pong"


@pytest_twisted.inlineCallbacks
def test_other_ca_rejected(listen, tmp_path):
    """A certificate from another CA fails the handshake."""
    port, _ = listen([], ["127.0.0.1"])
    other = ClusterCA.load_or_create(tmp_path / "other-ca")

    with pytest.raises(SSL.Error, match="certificate verify failed"):
        yield ask(port, "127.0.0.1", other.certificate_pem)


@pytest_twisted.inlineCallbacks
def test_other_address_rejected(listen):
    """A certificate from the right CA for another address is rejected."""
    port, ca = listen(["core.lan"], ["10.213.0.9"])

    with pytest.raises(VerificationError):
        yield ask(port, "127.0.0.1", ca.certificate_pem)


@pytest_twisted.inlineCallbacks
def test_other_name_rejected(listen):
    """A certificate from the right CA for another name is rejected."""
    port, ca = listen(["core.lan"], ["127.0.0.1"])

    with pytest.raises(VerificationError):
        yield ask(port, "localhost", ca.certificate_pem)


def test_server_options_key_mismatch(tmp_path):
    """A key from another certificate is rejected at once."""
    ca = ClusterCA.load_or_create(tmp_path)
    certificate, _ = ca.issue_server([], ["127.0.0.1"])
    _, other_key = ca.issue_server([], ["127.0.0.1"])

    with pytest.raises(ValueError, match="does not match the certificate"):
        server_options(certificate, other_key)


def test_server_options_damaged_pem(tmp_path):
    """Damaged PEM input is rejected, saying which half is wrong."""
    ca = ClusterCA.load_or_create(tmp_path)
    certificate, key = ca.issue_server([], ["127.0.0.1"])

    with pytest.raises(ValueError, match="invalid server certificate"):
        server_options(certificate[:100], key)
    with pytest.raises(ValueError, match="invalid server key"):
        server_options(certificate, key[:100])


def test_client_options_damaged_ca():
    """A CA certificate that is not PEM is rejected."""
    with pytest.raises(ValueError, match="invalid CA certificate"):
        client_options("127.0.0.1", b"-----BEGIN CERTIFICATE-----\nxx")
