"""Webhooks out: the projects' notifications as the master knows them, and the sender of deliveries.

The deliveries themselves are written by storage, in the transaction of the run's final
status (`RunWrite.notifications`, given by `Lifecycle`): this module only sends them.

`Sender` runs as one task of the master, apart from dispatch: it never holds a dispatch pass
and a slow receiver never delays another's deliveries. It wakes on an event, set by
`Lifecycle` after a write that stored deliveries, so a run's end is POSTed at once; a timer
wakes it for the next retry that falls due. Each pass reads the pending deliveries (by id,
hence by run then in the run's order) and starts the first one of every run that is due and not
already being sent: a run's deliveries go one after another, in order; those of different
runs go in parallel, at most `CONCURRENT_SENDS` at a time.

An attempt is a POST of the stored body, signed `X-Podium-Signature: sha256=<hex HMAC-SHA256 of
the body keyed with the notification's secret>`, with `X-Podium-Delivery` (the id: the same on
every retry, so a receiver can drop a repeat) and `X-Podium-Event`. A 2xx answer delivers it;
anything else (another status, a timeout, a refused connection, a secret that cannot be opened)
is recorded as a failed attempt and retried after `delivery_retry_delay`, doubled per attempt up
to `delivery_retry_max`, until `delivery_give_up` seconds after the run ended: then the delivery
is `failed`. Redirects are not followed.

Several masters on one database send each attempt once: a sender claims a delivery in storage
before it posts it (`Storage.claim_delivery`, a compare-and-set taking a lease of
`delivery_timeout` + `LEASE_MARGIN` seconds, ended when the attempt is recorded). A delivery
another master holds is left to it and looked at again once that lease would have ended; one
whose holder died mid-send is taken by whichever master claims it after its lease ended. As
another master's runs store deliveries this sender is not told of, it reads them at least every
`reread` seconds when several masters may serve the database (`master.SHARED_DELIVERIES_REREAD`).
A master that stops mid-attempt leaves its lease to end and the attempt is sent again (by itself
after a restart, or another master): deliveries are at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from datetime import timedelta

import httpx

from podium_master.settings import MasterSettings
from podium_model import utcnow
from podium_model.notifications import DeliveryAttempt, DeliveryRecord, DeliveryStatus, Notification
from podium_storage.interface import Storage, StorageError
from podium_storage.sealing import SealingError, SecretsKeys

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Podium-Signature"
DELIVERY_HEADER = "X-Podium-Delivery"
EVENT_HEADER = "X-Podium-Event"
CONCURRENT_SENDS = 16
"""Attempts in flight at once, over all runs."""
PENDING_PAGE = 1000
"""Pending deliveries read per pass; more wait for the next pass."""
USER_AGENT = "podium-webhooks/1"
"""Names the sender to receivers (`1`: the version of the body and its headers)."""
ERROR_CHARS = 300
"""The longest error message an attempt keeps."""
LEASE_MARGIN = 5.0
"""Seconds a claim lasts beyond `delivery_timeout` (the secret's read, the attempt's record)."""


class Notifications:
    """Every project's notifications, read at start-up and again when configuration is applied.

    `by_project` holds only the projects that have some, so a master whose projects notify
    nobody passes no notifications to its run writes at all.
    """

    def __init__(self) -> None:
        self.by_project: dict[str, Sequence[Notification]] = {}

    async def refresh(self, storage: Storage) -> None:
        """Read the projects' notifications again."""
        projects = await storage.list_projects()
        self.by_project = {project.id: project.notifications for project in projects if project.notifications}


def signature(secret: str, body: bytes) -> str:
    """The value of `X-Podium-Signature` for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Sender:
    """Sends pending deliveries, retrying with backoff; one task of the master.

    Args:
        settings: the master's settings (its id claims the deliveries it sends; the delays).
        storage: where deliveries are read, claimed and recorded.
        keys: opens the notifications' secrets (None: nothing can be signed).
        reread: seconds between passes at the longest, when other masters store deliveries too
            (None: a pass only when woken or when a retry falls due).
    """

    def __init__(
        self, settings: MasterSettings, storage: Storage, keys: SecretsKeys | None, reread: float | None = None
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.keys = keys
        self.reread = reread
        self.lease = settings.delivery_timeout + LEASE_MARGIN
        """Seconds a claim lasts: past them, another master may send the delivery."""
        self._wanted = asyncio.Event()
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._elsewhere: dict[str, float] = {}
        """Deliveries another master holds (by id), and when (monotonic) to try them again."""
        self._slots = asyncio.Semaphore(CONCURRENT_SENDS)
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        """Deliveries may have been stored: look at once."""
        self._wanted.set()

    async def run_forever(self) -> None:
        """Pass after pass: send what is due, then sleep until woken or until the next retry is due."""
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.delivery_timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
        )
        try:
            while True:
                self._wanted.clear()
                try:
                    delay = await self._pass()
                except StorageError as exc:
                    logger.warning("deliveries not read (retried): %s", exc)
                    delay = self.settings.delivery_retry_delay
                if self.reread is not None:
                    delay = self.reread if delay is None else min(delay, self.reread)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wanted.wait(), delay)
        finally:
            for task in self._sending.values():
                task.cancel()
            await self._client.aclose()

    async def _pass(self) -> float | None:
        """Start the due head of every run; seconds until the next head falls due (None: none waits)."""
        pending = await self.storage.list_pending_deliveries(PENDING_PAGE)
        heads: dict[str, DeliveryRecord] = {}
        for delivery in pending:
            heads.setdefault(delivery.run, delivery)
        now = utcnow()
        clock = time.monotonic()
        waits: list[float] = []
        listed = {delivery.id for delivery in heads.values()}
        self._elsewhere = {id: at for id, at in self._elsewhere.items() if id in listed and at > clock}
        for run, delivery in heads.items():
            if run in self._sending:
                continue  # its task wakes the sender when it is done
            if delivery.id in self._elsewhere:  # another master sends it: look again once its lease ended
                waits.append(self._elsewhere[delivery.id] - clock)
                continue
            due = delivery.next_attempt_at or now
            if due <= now:
                task = asyncio.create_task(self._send(delivery), name=f"delivery {delivery.id}")
                self._sending[run] = task
                task.add_done_callback(functools.partial(self._done, run))
            else:
                waits.append((due - now).total_seconds())
        if len(pending) == PENDING_PAGE and not waits:
            return self.settings.delivery_retry_delay  # more than a page: look again soon
        return min(waits) if waits else None

    def _done(self, run: str, _: asyncio.Task[None]) -> None:
        self._sending.pop(run, None)
        self.wake()  # the run's next delivery may go now

    async def _send(self, delivery: DeliveryRecord) -> None:
        async with self._slots:
            until = utcnow() + timedelta(seconds=self.lease)
            try:
                claimed = await self.storage.claim_delivery(delivery.id, self.settings.master_id, until)
            except StorageError as exc:
                logger.warning("delivery %s not claimed (retried): %s", delivery.id, exc)
                self._elsewhere[delivery.id] = time.monotonic() + self.settings.delivery_retry_delay
                return
            if not claimed:  # another master sends it now (or sent it meanwhile: the next pass shows)
                self._elsewhere[delivery.id] = time.monotonic() + self.lease
                return
            started = utcnow()
            clock = time.monotonic()
            status_code, error = await self._post(delivery)
            attempt = DeliveryAttempt(
                attempt=delivery.attempt_count + 1,
                at=started,
                status_code=status_code,
                error=error[:ERROR_CHARS] if error else None,
                duration_ms=int((time.monotonic() - clock) * 1000),
            )
        status, next_at = DeliveryStatus.delivered, None
        if error is not None:
            wait = min(self.settings.delivery_retry_delay * 2**delivery.attempt_count, self.settings.delivery_retry_max)
            next_at = utcnow() + timedelta(seconds=wait)
            if next_at > delivery.created_at + timedelta(seconds=self.settings.delivery_give_up):
                status, next_at = DeliveryStatus.failed, None
            else:
                status = DeliveryStatus.pending
        ids = {"run_id": delivery.run, "project": delivery.project}
        if status is DeliveryStatus.failed:
            logger.warning("delivery %s to %s given up: %s", delivery.id, delivery.url, error, extra=ids)
        elif error is not None:
            logger.info("delivery %s attempt %d failed: %s", delivery.id, attempt.attempt, error, extra=ids)
        try:
            await self.storage.record_delivery_attempt(delivery.id, attempt, status, next_at)
        except StorageError as exc:  # it stays pending as it was: sent again (at least once)
            logger.warning("attempt of delivery %s not recorded: %s", delivery.id, exc, extra=ids)

    async def _post(self, delivery: DeliveryRecord) -> tuple[int | None, str | None]:
        """POST the delivery once: the status answered (if any) and why it failed (None: delivered)."""
        try:
            secret = await self._secret(delivery)
        except (StorageError, SealingError, LookupError) as exc:
            return None, str(exc)
        body = delivery.body.encode()
        headers = {
            SIGNATURE_HEADER: signature(secret, body),
            DELIVERY_HEADER: delivery.id,
            EVENT_HEADER: delivery.event,
        }
        assert self._client is not None
        try:
            # Streamed, and the answer's body never read: a receiver cannot make the master hold it.
            async with self._client.stream("POST", delivery.url, content=body, headers=headers) as response:
                code = response.status_code
        except httpx.TimeoutException:
            return None, f"no answer within {self.settings.delivery_timeout:g} s"
        except (httpx.HTTPError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return code, None if 200 <= code < 300 else f"answered {code}"

    async def _secret(self, delivery: DeliveryRecord) -> str:
        """The value of the delivery's secret, read at each attempt (it may be set or rotated meanwhile).

        Raises:
            LookupError: the secret is not set, or this master has no secrets key.
            SealingError: it does not open with this master's keys.
        """
        if self.keys is None:
            raise LookupError("this master has no secrets key (--secrets-key-file): deliveries cannot be signed")
        sealed = (await self.storage.get_sealed_secrets(delivery.project, [delivery.secret])).get(delivery.secret)
        if sealed is None:
            raise LookupError(f"secret {delivery.secret} of project {delivery.project} does not exist")
        return self.keys.open(delivery.project, delivery.secret, sealed)
