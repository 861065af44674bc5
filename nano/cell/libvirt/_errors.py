"""
Nano's own exceptions for libvirt failures, and the one place that maps
libvirt's error codes to them.
"""


class HypervisorError(Exception):
    """
    A libvirt call failed.

    :param message: what failed, naming the domain when there is one.
    :param domain: the domain name, or ``None`` for host-wide calls.
    :param code: libvirt's ``virErrorNumber``, or ``None`` when the error
        was raised by Nano itself.
    """

    def __init__(self, message, domain=None, code=None):
        super().__init__(message)
        self.message = message
        self.domain = domain
        self.code = code


class HostUnavailable(HypervisorError):
    """There is no working connection to libvirt at the moment."""


class DomainNotFound(HypervisorError):
    """No domain has the given name or UUID."""


class DomainExists(HypervisorError):
    """A domain with the same name or UUID is already defined."""


class DomainRunning(HypervisorError):
    """The operation needs a stopped domain, but it is running."""


class DomainNotRunning(HypervisorError):
    """The operation needs a running domain, but it is stopped."""


class InvalidDomainXML(HypervisorError):
    """libvirt rejected a domain definition."""


# virErrorNumber values, as in libvirt's virerror.h
_NO_DOMAIN = 42
_OPERATION_INVALID = 55
_XML_ERRORS = frozenset({27, 35, 67})  # XML_ERROR, XML_DETAIL, UNSUPPORTED
# NO_CONNECT, INVALID_CONN, RPC. SYSTEM_ERROR (38) is not among them:
# libvirt also raises it for a missing disk file or bridge.
_CONNECTION_ERRORS = frozenset({5, 6, 39})
# virErrorDomain VIR_FROM_RPC: errors of the client transport, such as
# "client socket is closed", mean the connection is gone.
_CONNECTION_ERROR_DOMAINS = frozenset({7})


def translate(error, action, domain=None, not_active=DomainNotRunning):
    """
    Turn a ``libvirt.libvirtError`` into a :class:`HypervisorError`.

    :param error: the libvirt exception (real or fake).
    :param action: what was attempted, such as ``"start"``.
    :param domain: the domain name, or ``None``.
    :param not_active: the exception for libvirt's "operation is not
        valid" error, which libvirt raises both for a domain that is not
        running and for one that is.
    :return: the exception to raise.
    """
    code = error.get_error_code()
    detail = error.get_error_message() or str(error)
    subject = "" if domain is None else f" domain {domain!r}"
    message = f"{action}{subject} failed: {detail}"
    cls = _error_class(code, error.get_error_domain(), not_active)
    return cls(message, domain, code)


def _error_class(code, error_domain, not_active):
    if error_domain in _CONNECTION_ERROR_DOMAINS:
        return HostUnavailable
    if code == _NO_DOMAIN:
        return DomainNotFound
    if code == _OPERATION_INVALID:
        return not_active
    if code in _XML_ERRORS:
        return InvalidDomainXML
    if code in _CONNECTION_ERRORS:
        return HostUnavailable
    return HypervisorError
