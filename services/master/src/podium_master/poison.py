"""Poison runs end, they do not bounce: undeliverable `execute` messages and oversized results.

A run goes back to pending when a worker refuses its `execute` (`dispatcher`) or drops the
connection before answering it (the worker no longer holds it when it reconnects:
`reconcile`). A run that every worker refuses would bounce forever, and each bounce took
the slot of a run behind it: one trigger could keep a fleet busy refusing it. So:

- an `execute` larger than the largest message every worker accepts
  (`podium_model.limits.EXECUTE_MESSAGE_BYTES`) is never sent: its run ends `exception` at once;
- each bounce holds the run back from dispatch for a delay (`bounce_delay`, doubling, at most
  `MAX_HOLD` seconds), so the next round gives the slot to the runs behind it; a timer wakes
  the dispatcher when the hold ends;
- the `bounce_limit`-th bounce within `bounce_window` seconds ends the run `exception`, with
  the last refusal as its reason; a refusal that speaks of the worker's state (draining, full,
  its disk full) holds the run back without counting;
- a final status whose results are over `RESULTS_BYTES` ends the run `exception` instead of
  storing them (a worker of this version never sends them: its executor keeps to the limit).

Counts live in the master's memory: a restarted master forgives earlier bounces.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from podium_master.lifecycle import RUNNING, Lifecycle
from podium_master.metrics import MasterMetrics
from podium_master.settings import MasterSettings
from podium_model import Run, RunStatus, RunUpdate
from podium_model.limits import EXECUTE_MESSAGE_BYTES, RESULTS_BYTES, json_size
from podium_model.messages import WorkerRunState

logger = logging.getLogger(__name__)

MAX_HOLD = 30.0
"""Seconds a bounced run is held back at most."""
MAX_TRACKED = 10_000
"""Bounced runs remembered at once; beyond, the oldest are forgotten (they start counting again)."""


WORKER_STATE_REFUSALS = frozenset({"draining", "full", "disk-full"})
"""Refusal codes that say something of the worker now (it drains, it is full, its disk is full),
not of the run: such a bounce holds the run back but does not count towards `bounce_limit`."""


class MessageTooLarge(Exception):
    """A message to a worker is larger than any worker accepts; it was not sent."""


def check_message_size(text: str, what: str) -> None:
    """Refuse a message to a worker over `EXECUTE_MESSAGE_BYTES` (UTF-8 bytes, as websockets counts).

    Raises:
        MessageTooLarge: naming the size and the limit.
    """
    if len(text) * 4 <= EXECUTE_MESSAGE_BYTES:
        return  # the common case, without encoding it: a character is at most 4 bytes
    size = len(text.encode())
    if size > EXECUTE_MESSAGE_BYTES:
        raise MessageTooLarge(
            f"its {what} message is {size} bytes, over the {EXECUTE_MESSAGE_BYTES} bytes a worker accepts"
        )


def bounded_results(state: WorkerRunState, message_size: int) -> WorkerRunState:
    """`state`, or when its results are over `RESULTS_BYTES` the same run ended `exception` without them.

    `message_size` is the size of the message that carried it: results are measured only
    when the message itself is larger than the limit (else they cannot be).
    """
    if message_size <= RESULTS_BYTES or not state.status.is_final or not state.results:
        return state
    size = json_size(state.results)
    if size <= RESULTS_BYTES:
        return state
    reason = f"its results are {size} bytes, over the limit of {RESULTS_BYTES} bytes (not stored)"
    if state.reason:
        reason = f"{reason}; reported as {state.status.value}: {state.reason}"
    return state.model_copy(update={"status": RunStatus.exception, "results": {}, "reason": reason})


class Bounces:
    """The runs bounced recently: when, and until when each is held back from dispatch.

    Args:
        settings: the bounce limit, window and delay.
        lifecycle: where a bounced run is requeued or ended.
        metrics: counts the runs ended undeliverable.
        wake: tells the dispatcher a held run may go again.
    """

    def __init__(
        self, settings: MasterSettings, lifecycle: Lifecycle, metrics: MasterMetrics, wake: Callable[[], None]
    ) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.metrics = metrics
        self._wake_dispatcher = wake
        self._times: dict[str, list[float]] = {}
        """The counted bounces of each run, within the window."""
        self._streaks: dict[str, int] = {}
        """Bounces of each run since it was last delivered, counted or not: the hold doubles with each."""
        self._holds: dict[str, asyncio.TimerHandle] = {}

    def held(self, run_id: str) -> bool:
        """True while a bounced run waits out its delay (the dispatcher passes over it)."""
        return run_id in self._holds

    def delivered(self, run_id: str) -> None:
        """A worker took the run: it is no longer bouncing."""
        self._times.pop(run_id, None)
        self._streaks.pop(run_id, None)
        self._release(run_id, wake=False)

    async def bounce(self, run_id: str, worker_id: str, detail: str, code: str | None = None) -> Run | None:
        """`run_id` came back from `worker_id` without starting (`detail`): requeue it held back, or end it.

        A refusal whose `code` says the worker cannot take runs now (`WORKER_STATE_REFUSALS`) holds
        the run back like any bounce but does not count towards its end: the run did nothing wrong.

        Returns:
            The run as written, or None when it was no longer running on that worker.
        """
        settings = self.settings
        now = time.monotonic()
        times = [at for at in self._times.pop(run_id, ()) if now - at < settings.bounce_window]
        counted = code not in WORKER_STATE_REFUSALS
        if counted:
            times.append(now)
        streak = self._streaks.pop(run_id, 0) + 1
        lifecycle = self.lifecycle
        ids = {"run_id": run_id, "worker_id": worker_id}
        if counted and len(times) >= settings.bounce_limit:
            self._release(run_id, wake=False)
            reason = (
                f"not delivered: bounced {len(times)} times within {settings.bounce_window:g} s, "
                f"last by worker {worker_id}: {detail}"
            )
            run = await lifecycle.transition(run_id, RUNNING, RunStatus.exception, RunUpdate(reason=reason))
            if run is not None:
                self.metrics.runs_undeliverable.inc()
                logger.warning("run %s ended exception: %s", run_id, reason, extra=ids)
            return run
        if len(self._streaks) >= MAX_TRACKED:
            oldest = next(iter(self._streaks))
            del self._streaks[oldest]
            self._times.pop(oldest, None)
        self._times[run_id] = times
        self._streaks[run_id] = streak
        delay = min(MAX_HOLD, settings.bounce_delay * 2 ** min(streak - 1, 16))
        self._release(run_id, wake=False)
        self._holds[run_id] = asyncio.get_running_loop().call_later(delay, self._release, run_id)
        count = f"bounce {len(times)} of {settings.bounce_limit}" if counted else "not counted: the worker's state"
        reason = f"{detail} ({count}; retried in {delay:g} s)"
        logger.warning("run %s back to pending: %s", run_id, reason, extra=ids)
        return await lifecycle.requeue(run_id, reason)

    def _release(self, run_id: str, wake: bool = True) -> None:
        handle = self._holds.pop(run_id, None)
        if handle is not None:
            handle.cancel()
        if wake:
            self._wake_dispatcher()

    async def undeliverable(self, run_id: str, worker_id: str, reason: str) -> Run | None:
        """End a claimed run whose `execute` could not be sent at all."""
        self.delivered(run_id)
        text = f"not delivered to worker {worker_id}: {reason}"
        run = await self.lifecycle.transition(run_id, RUNNING, RunStatus.exception, RunUpdate(reason=text))
        if run is not None:
            self.metrics.runs_undeliverable.inc()
            logger.warning("run %s ended exception: %s", run_id, text, extra={"run_id": run_id, "worker_id": worker_id})
        return run
