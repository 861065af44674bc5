"""Tests of the saga runner, on its own."""

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nano.core._saga import MAX_TRIES, RETRY_DELAY, Saga, Step, steps_done


class ListLog:
    """A saga log that keeps what it records in a list."""

    def __init__(self, fail_on=()):
        self.records = []
        self.fail_on = fail_on

    def _add(self, *record):
        self.records.append(record)
        if record[0] in self.fail_on:
            return fail(OSError("disk full"))
        return succeed(None)

    def step_done(self, step):
        return self._add("done", step)

    def finished(self):
        return self._add("finished")

    def failed(self, reason):
        return self._add("failed", reason)

    def rolled_back(self):
        return self._add("rolled back")


class SagaTests(SynchronousTestCase):
    """Saga.run and Saga.roll_back."""

    def setUp(self):
        self.clock = Clock()
        self.log = ListLog()
        self.calls = []

    def step(self, name, result=None, undo=None):
        def act():
            self.calls.append(name)
            return result() if callable(result) else result

        def compensate():
            self.calls.append(f"undo {name}")
            return undo() if callable(undo) else undo

        return Step(name, act, compensate)

    def run_saga(self, steps):
        saga = Saga("test saga", steps, self.log, self.clock)
        return saga, saga.run()

    def test_every_step_runs_and_is_recorded(self):
        """Steps run in order, each recorded before the next."""
        _, running = self.run_saga([self.step("a"), self.step("b")])
        self.assertEqual(self.successResultOf(running), "finished")
        self.assertEqual(self.calls, ["a", "b"])
        self.assertEqual(
            self.log.records, [("done", "a"), ("done", "b"), ("finished",)]
        )

    def test_failed_step_is_compensated_in_reverse(self):
        """
        A failed step records the failure, then the compensations run from
        the failed step back to the first.
        """
        steps = [
            self.step("a"),
            self.step("b"),
            self.step("c", lambda: fail(ValueError("no room"))),
            self.step("d"),
        ]
        _, running = self.run_saga(steps)
        self.assertEqual(self.successResultOf(running), "rolled back")
        self.assertEqual(
            self.calls, ["a", "b", "c", "undo c", "undo b", "undo a"]
        )
        self.assertEqual(
            self.log.records,
            [
                ("done", "a"),
                ("done", "b"),
                ("failed", "step c failed: no room"),
                ("rolled back",),
            ],
        )

    def test_compensation_is_retried(self):
        """A compensation that fails is tried again after a delay."""
        outcomes = [fail(OSError("gone")), succeed(None)]
        steps = [
            self.step("a", undo=lambda: outcomes.pop(0)),
            self.step("b", lambda: fail(ValueError("bad"))),
        ]
        _, running = self.run_saga(steps)
        self.assertNoResult(running)
        self.clock.advance(RETRY_DELAY)
        self.assertEqual(self.successResultOf(running), "rolled back")
        self.assertEqual(self.calls.count("undo a"), 2)

    def test_compensation_gives_up(self):
        """After MAX_TRIES failures the saga is stuck, not rolled back."""
        steps = [
            Step(
                "a",
                lambda: fail(ValueError("bad")),
                lambda: fail(OSError("gone")),
            )
        ]
        saga = Saga("test saga", steps, self.log, self.clock)
        running = saga.run()
        for _ in range(MAX_TRIES):
            self.clock.advance(RETRY_DELAY)
        self.assertEqual(self.successResultOf(running), "stuck")
        self.assertNotIn(("rolled back",), self.log.records)

    def test_roll_back_after_restart(self):
        """
        roll_back with the steps recorded done undoes them and the one
        that may have been running, and records the reason.
        """
        steps = [self.step("a"), self.step("b"), self.step("c")]
        saga = Saga("test saga", steps, self.log, self.clock)
        last = steps_done(steps, ["a"])
        rolled = saga.roll_back(last, "Core restarted")
        self.assertEqual(self.successResultOf(rolled), "rolled back")
        self.assertEqual(self.calls, ["undo b", "undo a"])
        self.assertEqual(
            self.log.records,
            [("failed", "Core restarted"), ("rolled back",)],
        )

    def test_stop_records_nothing_more(self):
        """A stopped saga neither records nor compensates."""
        pending = Deferred()
        saga, running = self.run_saga(
            [self.step("a", lambda: pending), self.step("b")]
        )
        saga.stop()
        pending.callback(None)
        self.assertEqual(self.successResultOf(running), "stopped")
        self.assertEqual(self.log.records, [])
        self.assertEqual(self.calls, ["a"])

    def test_journal_failure_rolls_back(self):
        """A step whose record fails is rolled back like a failed step."""
        self.log.fail_on = ("done",)
        _, running = self.run_saga([self.step("a"), self.step("b")])
        self.assertEqual(self.successResultOf(running), "rolled back")
        self.assertEqual(self.calls, ["a", "undo a"])
        self.assertEqual(
            self.log.records[1], ("failed", "step a failed: disk full")
        )
