"""The DHCP directory that ``twistd nano-cell`` makes at start-up."""

import os
import stat
from pathlib import Path

import orjson
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from nano.cell import tap


class DhcpDirectoryBuildTests(SynchronousTestCase):
    """A Cell with a bridge, built under twistd's daemon umask."""

    def test_directories_open_to_dnsmasq(self):
        """The data and DHCP directories let dnsmasq's user pass, even
        under umask 077, while the journal stays private."""
        config = Path(self.mktemp())
        config.mkdir(parents=True)
        (config / "domain.cfg").write_bytes(
            orjson.dumps({"secret": bytes(range(32)).hex()})
        )
        (config / "cell.cfg").write_bytes(orjson.dumps({"bridge": "nb6br0"}))
        data = Path(self.mktemp()).absolute() / "cell"
        arguments = ["--config", str(config), "--data", str(data)]
        options = tap.Options()
        options.parseOptions([*arguments, "--domain-type", "qemu"])

        previous = os.umask(0o077)
        try:
            service = tap.makeService(options, MemoryReactorClock())
        finally:
            os.umask(previous)
        self.addCleanup(service.parts.service.journal.close)

        for path in (data.parent, data, data / "dhcp"):
            mode = path.stat().st_mode
            self.assertTrue(mode & stat.S_IXOTH, f"{path}: {oct(mode)}")
        journal = (data / "journal").stat().st_mode
        self.assertFalse(journal & stat.S_IROTH, oct(journal))
