"""The dnsmasq command line that serves fixed bindings on one bridge."""

import os
import shutil

import attrs

from ._errors import DhcpError
from ._files import range_tag

#: Directories of the binary in Debian's dnsmasq-base package, missing
#: from a PATH without ``sbin`` directories.
_SBIN = ("/usr/sbin", "/sbin")


@attrs.frozen
class DnsmasqFiles:
    """The files of one dnsmasq, all in one directory."""

    hosts: str
    options: str
    leases: str
    pid: str

    @classmethod
    def in_directory(cls, directory) -> "DnsmasqFiles":
        """Name the files inside ``directory``."""
        return cls(
            hosts=os.path.join(directory, "hosts"),
            options=os.path.join(directory, "options"),
            leases=os.path.join(directory, "leases"),
            pid=os.path.join(directory, "dnsmasq.pid"),
        )


def find_dnsmasq(executable="dnsmasq") -> str:
    """
    Return the path of the dnsmasq binary.

    :raises DhcpError: it is not installed.
    """
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    found = shutil.which(executable, path=search)
    if found is None:
        raise DhcpError(
            f"{executable} not found in {search}: install it "
            "(apt-get install dnsmasq-base)"
        )
    return found


def dnsmasq_arguments(bridge, networks, lease_time, files) -> list[str]:
    """
    Build the arguments (without the program name) for a dnsmasq that
    serves DHCP on ``bridge`` only, and only to the MACs in the hosts
    file.

    :param networks: :class:`ipaddress.IPv4Network` objects, one
        ``--dhcp-range`` each in dnsmasq's ``static`` mode: no dynamic
        pool, only the bound addresses. Each range sets the tag of
        :func:`~nano.cell.network._files.range_tag` on its clients.
        NOTE: where two networks overlap, such as a /24 and a /25 with
        the same start, dnsmasq picks one range for a host, so the host
        may be offered the other network's netmask.
    :param lease_time: seconds.
    """
    ranges = [
        f"--dhcp-range=set:{range_tag(index)},{network.network_address},"
        f"static,{network.netmask},{lease_time}"
        for index, network in enumerate(networks)
    ]
    return [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        # DHCP only: no DNS server.
        "--port=0",
        "--bind-interfaces",
        f"--interface={bridge}",
        "--except-interface=lo",
        *ranges,
        f"--dhcp-hostsfile={files.hosts}",
        f"--dhcp-optsfile={files.options}",
        # Send no reply at all to MACs without a binding, so another DHCP
        # server on the same LAN keeps serving them.
        "--dhcp-ignore=tag:!known",
        f"--dhcp-leasefile={files.leases}",
        f"--pid-file={files.pid}",
        # Each address has one owner, so the ping that checks for another
        # user of an address only delays the offer (by about 3 s with
        # dnsmasq 2.90).
        "--no-ping",
        "--log-facility=-",
    ]
