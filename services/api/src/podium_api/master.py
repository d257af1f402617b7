"""The api's side of the master's internal control API.

The api writes the database first and then tells the master; a master that is down acts on
the write at its next start-up or safety sweep, so a failed notification is logged, not raised.
Notifications run as background tasks so that the client's answer never waits on the master.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Podium-Control-Secret"


class MasterClient:
    """Calls to the master over one shared `httpx.AsyncClient`."""

    def __init__(self, base_url: str, secret: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers={SECRET_HEADER: secret}, timeout=httpx.Timeout(timeout)
        )
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Wait briefly for pending notifications, then close the HTTP client."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        await self._client.aclose()

    async def health(self, timeout: float = 1.0) -> dict[str, Any] | None:
        """The master's health document, or None when it does not answer 200."""
        try:
            response = await self._client.get("/health", timeout=timeout)
        except httpx.HTTPError as exc:
            logger.debug("master health check failed: %s", exc)
            return None
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}

    async def _post(self, path: str) -> bool:
        try:
            response = await self._client.post(path)
        except httpx.HTTPError as exc:
            logger.warning("master did not take %s (%s); it will act at its next sweep", path, exc)
            return False
        if response.status_code >= 300:
            logger.warning("master answered %s to %s; it will act at its next sweep", response.status_code, path)
            return False
        return True

    def notify(self, path: str) -> None:
        """POST `path` to the master in the background; failures are logged only."""

        async def send() -> None:
            await self._post(path)

        task = asyncio.get_running_loop().create_task(send(), name=f"master {path}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def dispatch(self) -> None:
        """Something became runnable: a new pending run, an enabled job or worker."""
        self.notify("/control/dispatch")

    def cancel(self, run_id: str) -> None:
        """A run's `should_cancel` was set."""
        self.notify(f"/control/runs/{run_id}/cancel")

    def abort(self, run_id: str) -> None:
        """A run's `should_abort` was set."""
        self.notify(f"/control/runs/{run_id}/abort")

    def disconnect(self, worker_id: str) -> None:
        """A worker's `should_disconnect` was set."""
        self.notify(f"/control/workers/{worker_id}/disconnect")
