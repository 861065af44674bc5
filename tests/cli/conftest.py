"""Fixtures of the ``nano`` client's tests: a real Core and Cell."""

import pytest
from click.testing import CliRunner

from nano.cli import cli

from .processes import TEST_DRIVER, Cell, Core


def _private_libvirtd(request):
    try:
        return request.getfixturevalue("private_libvirtd")
    except pytest.skip.Exception:
        return None


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory):
    """
    Core and a Cell, shared by a test module. The Cell runs QEMU through
    a private libvirtd where one can run (as root), else libvirt's test
    driver, on which no guest fits (see :func:`needs_qemu`).
    """
    root = tmp_path_factory.mktemp("cli-cluster")
    libvirtd = _private_libvirtd(request)
    core = Core(root)
    cell = Cell(root, core, libvirtd.uri if libvirtd else TEST_DRIVER)
    try:
        core.start()
        cell.start()
        yield core, cell
    finally:
        cell.stop()
        core.stop()
        if libvirtd is not None:
            libvirtd.remove_domains()


def runner_for(core):
    """Return a function that runs ``nano ARGS...`` against ``core``."""
    runner = CliRunner()
    environment = {
        "NANO_API": f"127.0.0.1:{core.port}",
        "NANO_CONFIG": str(core.api_cfg),
        "NANO_API_ID": None,
        "NANO_API_KEY": None,
    }

    def run(*arguments):
        return runner.invoke(cli, list(arguments), env=environment)

    return run


@pytest.fixture
def needs_qemu(cluster):
    """
    Skip a test that creates guests where the Cell runs on the test
    driver, whose host reports 3 MiB of free memory.
    """
    if cluster[1].uri == TEST_DRIVER:
        pytest.skip("creating guests needs QEMU through a private libvirtd")


@pytest.fixture(scope="module")
def nano_module(cluster):
    """:func:`nano` for module-scoped fixtures."""
    return runner_for(cluster[0])


@pytest.fixture
def nano(nano_module):
    """
    Run ``nano ARGS...`` in this process against the cluster's Core;
    return click's result (``exit_code``, ``output``, ``stdout``,
    ``stderr``).
    """
    return nano_module
