"""The error the DHCP server raises for bad input and a host it cannot use."""


class DhcpError(Exception):
    """
    The DHCP server cannot start or cannot take these bindings; the message
    names the value and the fix.
    """
