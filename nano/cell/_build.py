"""Build a Cell process from its directories and options."""

import os
from pathlib import Path

import attrs
from twisted.application.service import MultiService
from twisted.logger import Logger

from nano.cell.cloudinit import SeedStore
from nano.cell.libvirt import Host
from nano.cell.network import CellDhcp, make_directory
from nano.cell.storage import (
    LocalStorage,
    StorageError,
    closed_directory,
    make_passable_directory,
)
from nano.config import ConfigError
from nano.events import Journal, JournalCorruptError, JournalLockedError
from nano.events.cell import CELL_EVENTS
from nano.fabric import CellFabric, FabricConfig, Session
from nano.messages import NANO_MESSAGES
from nano.projections import CellProjection, LiveProjection

from ._book import InstanceBook
from ._handlers import InstanceHandlers
from ._image_cache import ImageCache
from ._lifecycle import Lifecycle
from ._media import MediaHandler
from ._modify import ModifyHandler
from ._reporter import StatusReporter
from ._settings import load_cell_settings
from .service import CellService

_log = Logger(namespace="nano.cell")

JOURNAL_DIRECTORY = "journal"
#: The image cache directory, under the storage directory so that
#: overlays and their images share one file system.
IMAGE_DIRECTORY = "images"
CONSOLE_DIRECTORY = "consoles"
DHCP_DIRECTORY = "dhcp"
FABRIC_CONFIG_NAME = "domain.cfg"


class StartupError(Exception):
    """The Cell cannot start; the message names the problem and the fix."""


@attrs.frozen(kw_only=True)
class CellOptions:
    """
    The Cell's command-line options.

    :ivar core: Core's ``(host, port)``, or ``None`` to find it by
        multicast.
    :ivar libvirt_uri: overrides ``cell.cfg`` when not ``None``, and so
        does ``domain_type``.
    """

    config: Path
    data: Path
    name: str
    core: tuple | None = None
    interface: str | None = None
    libvirt_uri: str | None = None
    domain_type: str | None = None


def build_cell(options, reactor, host=None, storage=None):
    """
    Read the Cell's settings and journal, and build its services: the
    libvirt host, the Cell service, the status reporter and the fabric,
    started in that order.

    :param host: a :class:`Host` to use in place of one on the
        configured URI (for tests), and ``storage`` likewise.
    :raises StartupError: naming what is wrong and how to fix it.
    """
    settings, fabric_config = _read_config(options)
    consoles = Path(options.data).absolute() / CONSOLE_DIRECTORY
    dhcp_directory = Path(options.data).absolute() / DHCP_DIRECTORY
    if settings.bridge is not None:
        # First, before the storage and the journal make the data
        # directory under the daemon's umask, which would keep dnsmasq's
        # user out of it.
        _dhcp_directory(dhcp_directory)
    if storage is None:
        _storage_directory(Path(settings.storage_directory))
        storage = _storage(reactor, settings.storage_directory)
    if host is None:
        host = Host(reactor, settings.libvirt_uri)
    journal = _open_journal(Path(options.data) / JOURNAL_DIRECTORY, reactor)
    parts = assemble(
        reactor,
        options.name,
        settings,
        journal,
        host,
        storage,
        str(consoles),
        fabric_config.request_timeout,
    )
    fabric = CellFabric(
        reactor, fabric_config, parts.session, options.name, options.core
    )
    cell = MultiService()
    for child in (host, parts.service, parts.reporter, fabric):
        child.setServiceParent(cell)
    if settings.bridge is not None:
        _dhcp(
            reactor, settings.bridge, dhcp_directory, parts
        ).setServiceParent(cell)
    cell.parts = parts
    cell.fabric = fabric
    return cell


@attrs.frozen
class CellParts:
    """The pieces of a Cell, for the fabric and for tests."""

    service: CellService
    handlers: InstanceHandlers
    reporter: StatusReporter
    session: Session
    book: InstanceBook


def assemble(
    clock, name, settings, journal, host, storage, consoles, timeout=10.0
):
    """
    Wire a Cell's pieces around an open journal, a host and a volume
    store; the caller connects ``session`` to a fabric endpoint.

    :param consoles: the directory for serial console logs, created if
        missing.
    :raises StartupError: the console directory cannot be created.
    """
    _directory(Path(consoles))
    live = LiveProjection(CellProjection(), journal)
    book = InstanceBook(live, clock, None, name)
    service = CellService(book, host, None, journal, clock)
    book.notify = service.notify
    images = ImageCache(
        clock, Path(settings.storage_directory) / IMAGE_DIRECTORY
    )
    images.remove_partials()
    handlers = InstanceHandlers(
        book, host, storage, settings, consoles, service.ready, images
    )
    handlers.seeds = SeedStore.for_reactor(settings.storage_directory, clock)
    service.lifecycle = Lifecycle(book, host, handlers)
    session = Session(clock, NANO_MESSAGES, service, timeout)
    service.session = session
    handlers.register(session)
    ModifyHandler(handlers).register(session)
    handlers.media = MediaHandler(handlers)
    handlers.media.register(session)
    reporter = StatusReporter(
        clock,
        host,
        storage,
        book,
        service.notify,
        lambda: service.core is not None,
        settings.instance_limit,
    )
    return CellParts(service, handlers, reporter, session, book)


def _dhcp(reactor, bridge, directory, parts):
    """
    Build the DHCP service for the instances on ``bridge``; it syncs again
    once start-up reconciliation has rolled back interrupted creates.
    """
    dhcp = CellDhcp(reactor, bridge, directory, parts.book.instances)
    parts.handlers.dhcp = dhcp
    parts.service.ready().addCallback(lambda _: dhcp.update())
    return dhcp


def _read_config(options):
    config = Path(options.config)
    try:
        settings = load_cell_settings(
            config,
            options.data,
            libvirt_uri=options.libvirt_uri,
            domain_type=options.domain_type,
        )
        fabric_config = FabricConfig.from_file(config / FABRIC_CONFIG_NAME)
    except ConfigError as error:
        raise StartupError(str(error)) from None
    if options.interface is not None:
        fabric_config = attrs.evolve(
            fabric_config, interface=options.interface
        )
    return settings, fabric_config


def _dhcp_directory(path):
    try:
        make_directory(path)
    except OSError as error:
        raise StartupError(
            f"cannot create the DHCP directory {path}: {error.strerror}; "
            "create it with mode 0755, or choose another --data directory"
        ) from None


def _storage_directory(path):
    """
    Create the volume directory so that QEMU can reach it, and warn when
    a directory on the way keeps an unprivileged QEMU out.
    """
    try:
        make_passable_directory(path)
    except OSError as error:
        raise StartupError(
            f"cannot create directory {path}: {error.strerror}; create it "
            "or choose another --data directory or storage_directory"
        ) from None
    closed = closed_directory(path)
    if closed is not None:
        _log.warn(
            "Directory {directory} does not let others pass (chmod o+x), so "
            "a libvirtd that runs QEMU as an unprivileged user cannot open "
            "the volumes in {storage}",
            directory=str(closed),
            storage=str(path),
        )


def _directory(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise StartupError(
            f"cannot create directory {path}: {error.strerror}; create it "
            "or choose another --data directory or storage_directory"
        ) from None
    return path


def _storage(reactor, directory):
    try:
        return LocalStorage(reactor, directory)
    except StorageError as error:
        raise StartupError(str(error)) from None


def _open_journal(directory, reactor):
    try:
        return Journal.open(directory, CELL_EVENTS, reactor)
    except (JournalCorruptError, JournalLockedError) as error:
        raise StartupError(str(error)) from None
    except OSError as error:
        raise StartupError(
            f"cannot open the journal in {directory}: {error.strerror}; "
            "check that the --data directory is writable"
        ) from None
