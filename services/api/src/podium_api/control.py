"""The api's side of the master's internal control API (`ControlClient`); answers are `ControlAnswer`s.

The api writes the database first and then tells the master; a master that is down acts on
the write at its next start-up or safety sweep, so a failed notification is logged, not raised.
Notifications run as background tasks so that the client's answer never waits on the master.

An `https://` master is verified (chain and host name) against the system store or the
api's `--master-ca-file`; a refused certificate is logged once per reason, at error level,
and `probe()` answers it as the reason the master is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Any

import httpx

from podium_model import transport
from podium_model.control import ControlAnswer

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Podium-Control-Secret"


class ControlClient:
    """Calls to one master over one shared `httpx.AsyncClient` (`masters.Masters` holds one per master).

    Args:
        base_url: the master's base URL, `http://` or `https://`.
        secret: the control secret, sent with every call.
        timeout: seconds for each call.
        ca_file: the CA bundle that signs an https master's certificate (None: the system store).
    """

    def __init__(
        self, base_url: str, secret: str, timeout: float = 5.0, ca_file: str | os.PathLike[str] | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.trusted = os.fspath(ca_file) if ca_file is not None else "the system certificate store"
        verify: ssl.SSLContext | bool = transport.client_context(ca_file) if transport.is_secure(base_url) else True
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers={SECRET_HEADER: secret}, timeout=httpx.Timeout(timeout), verify=verify
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._tls_refusal: str | None = None  # the last TLS failure logged, so a poller does not repeat it
        self._dispatch_wanted = False
        self._dispatcher: asyncio.Task[None] | None = None

    async def close(self) -> None:
        """Wait briefly for pending notifications, then close the HTTP client."""
        pending = {*self._tasks, *([self._dispatcher] if self._dispatcher else [])}
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        for task in pending:
            task.cancel()
        await self._client.aclose()

    def _reason(self, error: Exception) -> str:
        """Why a call failed, in one line; a TLS failure is also logged (once per reason)."""
        tls = transport.find_tls_error(error)
        if tls is None:
            return str(error) or type(error).__name__
        reason = transport.describe_tls_failure(tls, "the master")
        if reason != self._tls_refusal:
            self._tls_refusal = reason
            logger.error("connection to %s refused: %s (trusting %s)", self.base_url, reason, self.trusted)
        return reason

    async def probe(self, timeout: float = 1.0) -> tuple[dict[str, Any] | None, str | None]:
        """The master's health document (None when it does not answer 200) and why not."""
        try:
            response = await self._client.get("/health", timeout=timeout)
        except (httpx.HTTPError, OSError) as exc:  # ssl.SSLError is an OSError
            reason = self._reason(exc)
            logger.debug("master health check failed: %s", reason)
            return None, reason
        self._tls_refusal = None
        if response.status_code != 200:
            return None, f"the master answered {response.status_code} to GET /health"
        try:
            body = response.json()
        except ValueError:
            body = {}
        return (body if isinstance(body, dict) else {}), None

    async def health(self, timeout: float = 1.0) -> dict[str, Any] | None:
        """The master's health document, or None when it does not answer 200."""
        document, _ = await self.probe(timeout)
        return document

    async def _post(self, path: str) -> bool:
        return await self._call(path) is not None

    async def _call(self, path: str) -> ControlAnswer | None:
        """POST `path`; the master's answer, or None when it did not answer one (logged)."""
        try:
            response = await self._client.post(path)
        except (httpx.HTTPError, OSError) as exc:
            logger.warning(
                "master %s did not take %s (%s); it will act at its next sweep", self.base_url, path, self._reason(exc)
            )
            return None
        if response.status_code >= 300:
            logger.warning(
                "master %s answered %s to %s; it will act at its next sweep", self.base_url, response.status_code, path
            )
            return None
        try:
            return ControlAnswer.model_validate_json(response.content)
        except ValueError as exc:
            logger.warning("master %s answered %s with an unreadable body: %s", self.base_url, path, exc)
            return None

    def notify(self, path: str) -> None:
        """POST `path` to the master in the background; failures are logged only."""

        async def send() -> None:
            await self._post(path)

        task = asyncio.get_running_loop().create_task(send(), name=f"master {path}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def dispatch(self) -> None:
        """Something became runnable: a new pending run, an enabled job or worker.

        Signals coalesce: one POST at a time, and one more after it when something became
        runnable meanwhile (the master lists every pending run when woken), so a burst of
        triggers costs the master a few wake-ups, not one request each.
        """
        self._dispatch_wanted = True
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._send_dispatch(), name="master dispatch")

    async def _send_dispatch(self) -> None:
        while self._dispatch_wanted:
            self._dispatch_wanted = False
            await self._post("/control/dispatch")

    def configuration_changed(self) -> None:
        """Configuration was applied: the master re-reads notifications and schedules, and dispatches.

        In the background, like `dispatch`; a master that misses it reads them at its start.
        """
        self.notify("/control/configuration")

    async def cancel(self, run_id: str) -> ControlAnswer | None:
        """Have the master cancel a pending run (awaited: the api answers what the master did).

        Returns:
            The master's answer, or None when it did not answer (logged): the run's
            `should_cancel`, set before the call, then has the master cancel it at its next
            dispatch pass (its start-up, or a safety sweep).
        """
        return await self._call(f"/control/runs/{run_id}/cancel")

    def abort(self, run_id: str) -> None:
        """A run's `should_abort` was set."""
        self.notify(f"/control/runs/{run_id}/abort")

    async def refresh_worker(self, worker_id: str) -> None:
        """A worker's settings (enabled...) changed: the master re-reads them and dispatches.

        Awaited, not sent in the background: once enable or disable has answered, the master
        acts on it, and a run triggered next cannot race the change to the master. A master
        that does not answer re-reads every worker within a minute (logged, not raised).
        """
        await self._post(f"/control/workers/{worker_id}/refresh")

    def disconnect(self, worker_id: str) -> None:
        """A worker's `should_disconnect` was set."""
        self.notify(f"/control/workers/{worker_id}/disconnect")
