"""
Sagas: tasks made of ordered steps, each with a compensation, that
either finish or leave nothing behind (DESIGN.md, "Tasks are
all-or-nothing").

A :class:`Saga` journals through a :class:`SagaLog` before it acts:
the caller records the saga's start, then each finished step is
recorded before the next one begins, and a failure is recorded before
the compensations run. After a restart, :meth:`Saga.roll_back` undoes a
saga that the journal shows unfinished, from the steps it recorded.
"""

from collections.abc import Callable, Sequence
from typing import Protocol

import attrs
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred
from twisted.internet.task import deferLater

from ._logging import core_logger

#: Seconds between two tries of a compensation that failed.
RETRY_DELAY = 5.0
#: Tries of one compensation before the saga gives up on it.
MAX_TRIES = 60


@attrs.frozen
class Step:
    """
    One step of a saga.

    :ivar action: does the step; returns a Deferred or a value.
    :ivar compensation: undoes the step, and must succeed when the step
        was only partly done or not done at all, because a step cut
        short (a timeout) may or may not have happened.
    """

    name: str
    action: Callable[[], object]
    compensation: Callable[[], object] | None = None


class SagaLog(Protocol):
    """
    The journal of a saga's progress. Each method's Deferred fires once
    its event is on disk.
    """

    def step_done(self, step: str) -> Deferred:
        """Record that ``step`` finished."""

    def finished(self) -> Deferred:
        """Record that every step finished."""

    def failed(self, reason: str) -> Deferred:
        """Record that the saga failed, before its rollback."""

    def rolled_back(self) -> Deferred:
        """Record that every compensation finished."""


class Saga:
    """
    Run steps in order; when one fails, record why and run the
    compensations of the steps done, and of the failed one, in reverse.

    :param clock: an ``IReactorTime``, to wait between compensation tries.
    :ivar status: ``running``, ``finished``, ``rolled back`` or, when a
        compensation kept failing, ``stuck``.
    """

    log = core_logger()

    def __init__(self, name: str, steps: Sequence[Step], log, clock):
        self.name = name
        self.steps = tuple(steps)
        self.journal = log
        self.clock = clock
        self.status = "running"
        self._stopped = False

    def stop(self) -> None:
        """
        Stop at the next step or compensation, recording nothing more,
        as when Core stops: its next start rolls the saga back.
        """
        self._stopped = True

    @inlineCallbacks
    def run(self):
        """
        Do every step; the saga's start must already be recorded.

        :return: a Deferred that fires with :attr:`status` once the saga
            finished or was rolled back; it does not fail.
        """
        for index, step in enumerate(self.steps):
            if self._stopped:
                return "stopped"
            try:
                yield maybeDeferred(step.action)
                if self._stopped:
                    return "stopped"
                yield self.journal.step_done(step.name)
            except Exception as error:
                if self._stopped:
                    return "stopped"
                reason = f"step {step.name} failed: {_describe(error)}"
                yield self.roll_back(index, reason)
                return self.status
        try:
            yield self.journal.finished()
        except Exception as error:
            yield self.roll_back(len(self.steps) - 1, _describe(error))
            return self.status
        self.status = "finished"
        return self.status

    @inlineCallbacks
    def roll_back(self, last: int, reason: str | None):
        """
        Record the failure unless ``reason`` is ``None`` (already
        recorded), then compensate steps ``last`` down to the first.

        :param last: the index of the last step that may have happened.
        :return: a Deferred that fires with :attr:`status`.
        """
        self.log.warn(
            "Rolling back {saga}: {reason}", saga=self.name, reason=reason
        )
        if reason is not None:
            yield _logged(self.journal.failed(reason), self.name)
        for step in reversed(self.steps[: last + 1]):
            if step.compensation is None:
                continue
            undone = yield self._compensate(step)
            if self._stopped:
                return "stopped"
            if not undone:
                self.status = "stuck"
                return self.status
        yield _logged(self.journal.rolled_back(), self.name)
        self.status = "rolled back"
        return self.status

    @inlineCallbacks
    def _compensate(self, step: Step):
        for attempt in range(1, MAX_TRIES + 1):
            if self._stopped:
                return False
            try:
                yield maybeDeferred(step.compensation)
            except Exception as error:
                self.log.warn(
                    "Could not undo step {step} of {saga} (try {attempt}):"
                    " {error}; retrying in {delay} s",
                    step=step.name,
                    saga=self.name,
                    attempt=attempt,
                    error=_describe(error),
                    delay=RETRY_DELAY,
                )
                yield deferLater(self.clock, RETRY_DELAY, lambda: None)
            else:
                return True
        # TODO: a compensation that failed MAX_TRIES times is left for an
        # operator; Core retries it only at its next start.
        return False


def steps_done(steps: Sequence[Step], done: Sequence[str]) -> int:
    """
    Return the index of the last step that may have happened, given the
    names of the steps recorded as done: the step after them may have
    been running.
    """
    return min(len(done), len(steps) - 1)


def _logged(recorded: Deferred, saga: str) -> Deferred:
    return recorded.addErrback(
        lambda failure: Saga.log.failure(
            "Could not record the progress of {saga}", failure, saga=saga
        )
    )


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
