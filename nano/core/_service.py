"""Core's process: its journal, its state and its REST API server."""

import stat
from pathlib import Path

from twisted.application.service import MultiService
from twisted.internet.error import CannotListenError
from twisted.web.server import Site

from nano.config import ConfigError
from nano.events import (
    EventDecodeError,
    Journal,
    JournalCorruptError,
    JournalLockedError,
)
from nano.events.core import CORE_EVENTS
from nano.projections import CoreProjection, LiveProjection

from ._config import ApiConfig, load_api_config
from ._defaults import record_default_templates
from ._logging import core_logger
from .api import build_api, new_id

JOURNAL_DIRECTORY = "journal"


class StartupError(Exception):
    """Core cannot start; the message names the problem and the fix."""


class CoreService(MultiService):
    """
    Core: serves the REST API over the state folded from its journal.

    :ivar api: the :class:`~nano.core.api.CoreAPI`.
    :ivar port: the listening port, once started.
    """

    log = core_logger()

    def __init__(self, config: ApiConfig, journal, api, endpoint, reactor):
        """
        :param endpoint: ``(port, interface)`` to listen on.
        """
        super().__init__()
        self.config = config
        self.journal = journal
        self.api = api
        self._endpoint = endpoint
        self._reactor = reactor
        self.port = None

    def listen(self):
        """
        Start listening for API requests.

        :raises StartupError: the port cannot be bound.
        """
        port, interface = self._endpoint
        site = Site(self.api.resource())
        site.displayTracebacks = False
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
        Stop listening, write a snapshot so that the next start replays
        less, and close the journal.
        """
        super().stopService()
        stopped = self.port.stopListening() if self.port else None
        if stopped is None:
            return self._close()
        return stopped.addCallback(lambda _: self._close())

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


def build_core(
    config_dir: Path, data_dir: Path, port, interface: str, reactor
) -> CoreService:
    """
    Read Core's configuration and state, and bind its API port.

    :param port: the API port, or ``None`` for the one in ``api.cfg``.
    :raises StartupError: naming what is wrong and how to fix it.
    """
    try:
        config = load_api_config(config_dir)
    except ConfigError as error:
        raise StartupError(str(error)) from None
    _warn_if_readable(config.path)
    journal = _open_journal(Path(data_dir) / JOURNAL_DIRECTORY, reactor)
    try:
        live = LiveProjection(CoreProjection(), journal)
    except (EventDecodeError, JournalCorruptError) as error:
        journal.close()
        raise StartupError(
            f"cannot load Core's state from {journal.directory}: {error}; "
            f"run nano-journal verify {journal.directory} to list the damage"
        ) from None
    api = build_api(live, config.credentials, reactor, new_id)
    if port is None:
        port = config.port
    core = CoreService(config, journal, api, (port, interface), reactor)
    try:
        core.listen()
    except StartupError:
        journal.close()
        raise
    return core


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
    [(api_id, api_key)] = config.credentials.items()
    # The key is logged on the start that creates it, and never again.
    log.info(
        "Created the API credential id {api_id} key {api_key}, stored in "
        "{path} (readable by its owner only); it is not shown again",
        api_id=api_id,
        api_key=api_key,
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
