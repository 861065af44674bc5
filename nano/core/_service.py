"""Core's process: its journal, its state and its REST API server."""

import socket
import stat
from pathlib import Path

import attrs
from twisted.application.service import MultiService
from twisted.internet.defer import gatherResults, maybeDeferred
from twisted.internet.error import CannotListenError
from twisted.internet.threads import deferToThreadPool
from twisted.web.server import Site

from nano.config import ConfigError
from nano.events import (
    EventDecodeError,
    Journal,
    JournalCorruptError,
    JournalLockedError,
)
from nano.events.core import CORE_EVENTS
from nano.fabric import (
    CoreFabric,
    FabricConfig,
    InterfaceError,
    Session,
    ensure_secret,
)
from nano.messages import NANO_MESSAGES
from nano.projections import CoreProjection, LiveProjection
from nano.tls import (
    AddressListError,
    CAError,
    ClusterCA,
    host_addresses,
    server_options,
)

from ._cluster import Cluster
from ._config import ApiConfig, load_api_config
from ._defaults import record_default_templates
from ._logging import core_logger
from ._scheduler import MAX_CPU_LOAD
from .api import api_site, build_api, new_id
from .images import Images, ImageService

JOURNAL_DIRECTORY = "journal"
IMAGES_DIRECTORY = "images"
CA_DIRECTORY = "cert"
FABRIC_CONFIG_NAME = "domain.cfg"


class StartupError(Exception):
    """Core cannot start; the message names the problem and the fix."""


class CoreService(MultiService):
    """
    Core: serves the REST API over the state folded from its journal,
    and follows the Cells through the cluster fabric.

    :ivar api: the :class:`~nano.core.api.CoreAPI`.
    :ivar port: the listening port, once started.
    :ivar fabric: the :class:`~nano.fabric.CoreFabric`, or ``None`` for
        a Core without one (in tests).
    :ivar image_port: the image service's listening port, once started.
    """

    log = core_logger()

    def __init__(
        self, config: ApiConfig, journal, api, endpoint, reactor, fabric=None
    ):
        """
        :param endpoint: ``(port, interface)`` to listen on.
        """
        super().__init__()
        self.config = config
        self.journal = journal
        self.api = api
        self.fabric = fabric
        self._endpoint = endpoint
        self._reactor = reactor
        self.port = None
        self.image_port = None

    def listen(self):
        """
        Start listening for API requests.

        :raises StartupError: the port cannot be bound.
        """
        port, interface = self._endpoint
        site = api_site(self.api)
        try:
            self.port = self._reactor.listenTCP(
                port, site, interface=interface
            )
        except CannotListenError as error:
            raise StartupError(
                f"cannot listen on {interface} port {port}: "
                f"{error.socketError}; stop the process using it, or "
                "choose another port with --api-port"
            ) from None
        address = self.port.getHost()
        self.log.info(
            "Core API listening on {interface} port {port}",
            interface=address.host,
            port=address.port,
        )

    def listen_images(self, options, ca, secret: bytes):
        """
        Start the HTTPS image service with a server certificate issued
        by ``ca`` for this host's addresses and name.

        :param options: the :class:`CoreOptions`.
        :param ca: the :class:`~nano.tls.ClusterCA`.
        :raises StartupError: the addresses cannot be listed or the port
            cannot be bound.
        """
        try:
            addresses = host_addresses()
        except AddressListError as error:
            raise StartupError(str(error)) from None
        names = [socket.gethostname()]
        certificate, key = ca.issue_server(names, addresses)
        site = Site(ImageService(self.api.images, secret))
        site.displayTracebacks = False
        try:
            self.image_port = self._reactor.listenSSL(
                options.image_port,
                site,
                server_options(certificate, key),
                interface=options.image_interface,
            )
        except CannotListenError as error:
            raise StartupError(
                f"cannot listen on {options.image_interface} port "
                f"{options.image_port}: {error.socketError}; stop the "
                "process using it, or choose another port with --image-port"
            ) from None
        port = self.image_port.getHost().port
        self.api.images.serve_at(port, ca.certificate_pem, secret)
        self.log.info(
            "Image service listening on {interface} port {port} (HTTPS, "
            "certificate for {names} and {addresses}, CA {ca_file})",
            interface=options.image_interface,
            port=port,
            names=", ".join(names),
            addresses=", ".join(addresses),
            ca_file=str(Path(options.config) / CA_DIRECTORY / "ca.crt.pem"),
        )

    def start_fabric(self):
        """
        Bind the fabric's sockets, so that Cells can find Core.

        :raises StartupError: the interface or a port is unusable.
        """
        try:
            self.fabric.startService()
        except InterfaceError as error:
            # The problem comes before the fabric's hint, which names
            # --core, an option that only Cells have.
            problem = str(error).partition("; ")[0]
            raise StartupError(
                f"{problem}; give the fabric's interface name or IPv4 "
                'address with --interface, or as "interface" in domain.cfg'
            ) from None
        except (CannotListenError, OSError) as error:
            raise StartupError(
                f"cannot bind the fabric's UDP sockets: {error}; set "
                "listen_port in domain.cfg to a free port, or stop the "
                "other Core"
            ) from None

    def startService(self):
        """Record the default templates on a first start."""
        super().startService()
        _log_new_credentials(self.log, self.config)
        recorded = record_default_templates(
            self.api.live, self.api.make_id, self.api.now()
        )
        if recorded is not None:
            recorded.addCallbacks(
                lambda _: self.log.info("Created the default templates"),
                lambda failure: self.log.failure(
                    "Could not record the default templates", failure
                ),
            )

    def stopService(self):
        """
        Stop listening, close the fabric's connections, write a snapshot
        so that the next start replays less, and close the journal.
        """
        super().stopService()
        self.api.cluster.stop()
        stopping = []
        for port in (self.port, self.image_port):
            if port is not None:
                stopping.append(maybeDeferred(port.stopListening))
        if self.fabric is not None and self.fabric.running:
            stopping.append(maybeDeferred(self.fabric.stopService))
        stopped = gatherResults(stopping, consumeErrors=True)
        return stopped.addBoth(lambda _: self._close())

    def _close(self):
        live = self.api.live
        if live.current.position > 0:
            try:
                path = live.compact()
            except OSError:
                self.log.failure("Could not write a snapshot on stop")
            else:
                self.log.info("Wrote snapshot {path}", path=str(path))
        return self.journal.close()


@attrs.frozen(kw_only=True)
class CoreOptions:
    """
    Core's command-line options.

    :ivar port: the API port, or ``None`` for the one in ``api.cfg``.
    :ivar interface: the API's listening address.
    :ivar fabric_interface: the fabric's interface name or address, or
        ``None`` for the one in ``domain.cfg``.
    :ivar image_port: the HTTPS image service's port; 0 picks a free one.
    :ivar image_interface: the image service's listening address; Cells
        on other hosts download from it.
    :ivar max_cpu_load: the share of a Cell's CPU time in use above
        which the scheduler gives it no new instance.
    """

    config: Path
    data: Path
    port: int | None = None
    interface: str = "127.0.0.1"
    fabric_interface: str | None = None
    image_port: int = 5871
    image_interface: str = "0.0.0.0"
    max_cpu_load: float = MAX_CPU_LOAD
    name: str = attrs.field(factory=lambda: f"Core_{socket.gethostname()}")


def build_core(options: CoreOptions, reactor) -> CoreService:
    """
    Read Core's configuration and state, and bind its API port and its
    fabric sockets.

    :raises StartupError: naming what is wrong and how to fix it.
    """
    config_dir = Path(options.config)
    try:
        config = load_api_config(config_dir)
        fabric_config = _fabric_config(config_dir, options.fabric_interface)
    except ConfigError as error:
        raise StartupError(str(error)) from None
    _warn_if_readable(config.path)
    journal = _open_journal(Path(options.data) / JOURNAL_DIRECTORY, reactor)
    try:
        live = LiveProjection(CoreProjection(), journal)
    except (EventDecodeError, JournalCorruptError) as error:
        journal.close()
        raise StartupError(
            f"cannot load Core's state from {journal.directory}: {error}; "
            f"run nano-journal verify {journal.directory} to list the damage"
        ) from None
    cluster = Cluster(live, reactor)
    session = Session(
        reactor, NANO_MESSAGES, cluster, fabric_config.request_timeout
    )
    cluster.register(session)
    fabric = CoreFabric(reactor, fabric_config, session, options.name)
    try:
        images = _image_store(live, Path(options.data), reactor)
    except StartupError:
        journal.close()
        raise
    api = build_api(live, config.credentials, reactor, new_id, cluster, images)
    api.guests.max_cpu_load = options.max_cpu_load
    port = config.port if options.port is None else options.port
    core = CoreService(
        config, journal, api, (port, options.interface), reactor, fabric
    )
    try:
        ca = _cluster_ca(config_dir)
        core.listen()
        core.listen_images(options, ca, fabric_config.secret)
        core.start_fabric()
    except StartupError:
        for port in (core.port, core.image_port):
            if port is not None:
                port.stopListening()
        journal.close()
        raise
    return core


def _image_store(live, data: Path, reactor) -> Images:
    """
    Return Core's image store, with files that no record owns removed.
    """
    directory = data / IMAGES_DIRECTORY
    try:
        images = Images(
            live,
            directory,
            reactor,
            lambda function, *args: deferToThreadPool(
                reactor, reactor.getThreadPool(), function, *args
            ),
        )
        images.remove_leftovers()
    except OSError as error:
        raise StartupError(
            f"cannot use the image directory {directory}: {error.strerror}; "
            "check that the --data directory is writable"
        ) from None
    return images


def _cluster_ca(config_dir: Path) -> ClusterCA:
    directory = config_dir / CA_DIRECTORY
    existed = (directory / "ca.crt.pem").exists()
    try:
        ca = ClusterCA.load_or_create(directory)
    except CAError as error:
        raise StartupError(str(error)) from None
    if not existed:
        CoreService.log.info(
            "Created the cluster CA in {directory}; Cells get its "
            "certificate with each image reference",
            directory=str(directory),
        )
    return ca


def _fabric_config(config_dir: Path, interface) -> FabricConfig:
    """
    Read ``domain.cfg``, creating it or adding a cluster secret on the
    first start.

    :raises ConfigError: the file cannot be read or has invalid values.
    """
    path = config_dir / FABRIC_CONFIG_NAME
    if ensure_secret(path):
        CoreService.log.info(
            "Created the cluster secret in {path}; copy this file to every "
            "Cell's config directory",
            path=str(path),
        )
    config = FabricConfig.from_file(path)
    if interface is not None:
        config = attrs.evolve(config, interface=interface)
    return config


def _open_journal(directory: Path, reactor):
    try:
        return Journal.open(directory, CORE_EVENTS, reactor)
    except (JournalCorruptError, JournalLockedError) as error:
        raise StartupError(str(error)) from None
    except OSError as error:
        raise StartupError(
            f"cannot open the journal in {directory}: {error.strerror}; "
            "check that the --data directory exists and is writable"
        ) from None


def _log_new_credentials(log, config: ApiConfig) -> None:
    if not config.created:
        return
    [api_id] = config.credentials
    # The key stays out of the log, because a log file is often
    # readable by more users than the mode-0600 api.cfg.
    log.info(
        "Created the API credential id {api_id}; its key is in {path} "
        "(readable by its owner only)",
        api_id=api_id,
        path=str(config.path),
    )


def _warn_if_readable(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        CoreService.log.warn(
            "{path} is readable by other users (mode {mode:o}) but holds "
            "API keys: run chmod 600 {path}",
            path=str(path),
            mode=stat.S_IMODE(mode),
        )
