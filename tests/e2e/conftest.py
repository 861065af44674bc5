"""Fixtures of the end-to-end tests: real processes, libvirtd and QEMU."""

import pytest

from nano.testing.libvirtd import PrivateLibvirtd, unavailable_reason


@pytest.fixture(scope="session")
def private_libvirtd(tmp_path_factory):
    """
    A libvirtd of the test session's own, stopped with every domain gone;
    the test is skipped, with the reason, where one cannot run.
    """
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    daemon = PrivateLibvirtd(tmp_path_factory.mktemp("libvirtd"))
    daemon.start()
    yield daemon
    daemon.stop()
