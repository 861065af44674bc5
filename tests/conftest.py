"""Fixtures shared by the whole test suite."""

import pytest
from twisted.trial.unittest import SynchronousTestCase


@pytest.fixture(autouse=True)
def _trial_working_directory(request, tmp_path_factory, monkeypatch):
    """
    Run trial-style tests from a temporary directory, because their
    ``mktemp()`` makes paths under the working directory, which is the
    checkout under pytest.
    """
    if isinstance(request.instance, SynchronousTestCase):
        monkeypatch.chdir(tmp_path_factory.mktemp("trial"))
