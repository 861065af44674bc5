"""
The minimum level of Core's own log messages, set by ``--log-level``.

Core's loggers publish through :data:`observer`, which drops events
below :data:`LEVELS`' level. Messages of Twisted and of the shared Nano
packages (journal, projections) are not filtered.
"""

from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogPublisher,
)

LEVELS = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
observer = FilteringLogObserver(globalLogPublisher, [LEVELS])
LEVEL_NAMES = ("debug", "info", "warn", "error", "critical")


def set_level(name: str) -> None:
    """Publish Core's messages at level ``name`` and above only."""
    LEVELS.defaultLogLevel = LogLevel.levelWithName(name)


def core_logger() -> Logger:
    """Return a logger that publishes through :data:`observer`."""
    return Logger(observer=observer)
