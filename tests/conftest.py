"""Fixtures shared by the whole test suite."""

import pytest
from twisted.trial.unittest import SynchronousTestCase

from nano.testing.libvirtd import PrivateLibvirtd, unavailable_reason


@pytest.fixture(autouse=True)
def _trial_working_directory(request, tmp_path_factory, monkeypatch):
    """
    Run trial-style tests from a temporary directory, because their
    ``mktemp()`` makes paths under the working directory, which is the
    checkout under pytest.
    """
    if isinstance(request.instance, SynchronousTestCase):
        monkeypatch.chdir(tmp_path_factory.mktemp("trial"))


@pytest.fixture(scope="session")
def private_libvirtd(tmp_path_factory):
    """
    One libvirtd for the whole test session, shared by the Cell and
    end-to-end tests, and stopped with every domain gone. Tests that use it
    are skipped, with the reason, where one cannot run.
    """
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    daemon = PrivateLibvirtd(tmp_path_factory.mktemp("libvirtd"))
    daemon.start()
    yield daemon
    daemon.stop()
