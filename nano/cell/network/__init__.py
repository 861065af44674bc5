"""
DHCP on the Cell's bridge: dnsmasq gives each instance's MAC its fixed
address and sends no reply to any other MAC.
"""

from ._cell import CellDhcp, dhcp_hostname
from ._errors import DhcpError
from ._files import Binding, Lease, make_directory, read_leases
from ._server import DhcpServer

__all__ = [
    "Binding",
    "CellDhcp",
    "DhcpError",
    "DhcpServer",
    "Lease",
    "dhcp_hostname",
    "make_directory",
    "read_leases",
]
