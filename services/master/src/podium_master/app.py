"""The master's ASGI app: health, the control API and the worker websocket (architecture page)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from podium_master.auth import Refused, authenticate_worker
from podium_master.control_events import stream_events
from podium_master.master import Master
from podium_master.session import WorkerSession
from podium_master.settings import MasterSettings
from podium_model.control import ControlAnswer, ControlResult
from podium_model.messages import CLOSE_UNAUTHORIZED
from podium_model.problems import PROBLEM_MEDIA_TYPE, Problem
from podium_storage import LogStore, StorageUnavailable, migrate, open_storage

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Podium-Control-Secret"


RETRY_AFTER = "5"
"""Seconds a client is asked to wait after a 503 (the database is away): the api says the same."""


class ControlRefused(Exception):
    """A control call without the right secret."""


def get_master(request: Request) -> Master:
    """The master of the running app (lifespan state)."""
    master: Master = request.state.master
    return master


MasterDep = Annotated[Master, Depends(get_master)]


def _problem(status: int, slug: str, title: str, detail: str | None = None) -> JSONResponse:
    body = Problem.of(slug, title, status, detail).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


async def _apply_configuration(master: Master) -> None:
    path = master.settings.config
    if path is None:
        return
    from podium_model.config import read_configuration
    from podium_storage.configuration import apply_configuration

    configuration = read_configuration(path)
    changes = await apply_configuration(master.storage, configuration, False)
    logger.info("configuration %s applied: %d changes", path, len(changes))


def create_app(settings: MasterSettings | None = None) -> FastAPI:
    """Build the master's app; its lifespan migrates, applies the configuration and dispatches."""
    settings = settings or MasterSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            if settings.migrate:
                await migrate(settings.database_url)
            storage = await stack.enter_async_context(open_storage(settings.database_url))
            settings.log_dir.mkdir(parents=True, exist_ok=True)
            master = Master(settings, storage, LogStore(settings.log_dir))
            await _apply_configuration(master)
            await storage.deactivate_workers()
            await master.start()
            stack.push_async_callback(master.stop)
            logger.info("master ready on %s:%s", settings.host, settings.port)
            yield {"master": master}

    app = FastAPI(title="podium-master", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ControlRefused)
    async def refused(request: Request, exc: ControlRefused) -> JSONResponse:
        return _problem(401, "control-unauthorized", "Control secret missing or wrong")

    @app.exception_handler(StorageUnavailable)
    async def unavailable(request: Request, exc: StorageUnavailable) -> JSONResponse:
        master: Master = request.state.master
        master.metrics.storage_errors.inc()
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        response = _problem(503, "service-unavailable", "Service unavailable", "the database cannot be reached")
        response.headers["Retry-After"] = RETRY_AFTER
        return response

    def check_secret(request: Request) -> None:
        expected = settings.control_secret.get_secret_value() if settings.control_secret else ""
        given = request.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ControlRefused()

    control = [Depends(check_secret)]

    @app.get("/health")
    async def health(master: MasterDep) -> JSONResponse:
        try:
            await master.storage.ping()
        except Exception as exc:
            logger.warning("health: database unavailable: %s", exc)
            body = {"status": "unhealthy", "database": "unavailable"}
            return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER})
        # Degraded, still serving: log bytes wait on the workers until the log store has room.
        status, disk = ("degraded", "full") if master.log_space.full else ("ok", "ok")
        return JSONResponse({"status": status, "database": "ok", "log_disk": disk, "workers": len(master.sessions)})

    @app.get("/metrics")
    async def metrics(master: MasterDep) -> Response:
        return Response(
            await master.metrics.render(master.sessions.values(), master.storage), media_type=CONTENT_TYPE_LATEST
        )

    @app.post("/control/dispatch", dependencies=control)
    async def dispatch(master: MasterDep) -> ControlAnswer:
        master.dispatcher.wake()
        master.scheduler.wake()  # schedules may have changed too (configuration applied, enabled)
        return ControlAnswer(result=ControlResult.dispatching)

    @app.post("/control/runs/{run_id}/cancel", dependencies=control)
    async def cancel(run_id: str, master: MasterDep) -> ControlAnswer:
        return await master.cancel(run_id)

    @app.post("/control/runs/{run_id}/abort", dependencies=control)
    async def abort(run_id: str, master: MasterDep) -> ControlAnswer:
        return await master.abort(run_id)

    @app.post("/control/workers/{worker_id}/refresh", dependencies=control)
    async def refresh(worker_id: str, master: MasterDep) -> ControlAnswer:
        await master.dispatcher.refresh_workers(worker_id)
        master.dispatcher.wake()
        return ControlAnswer(result=ControlResult.refreshed)

    @app.post("/control/workers/{worker_id}/disconnect", dependencies=control)
    async def disconnect(worker_id: str, master: MasterDep) -> ControlAnswer:
        return await master.disconnect(worker_id)

    @app.websocket("/control/events")
    async def events_socket(websocket: WebSocket) -> None:
        expected = settings.control_secret.get_secret_value() if settings.control_secret else ""
        given = websocket.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            logger.warning("events subscription refused from %s: control secret missing or wrong", websocket.client)
            await websocket.close(CLOSE_UNAUTHORIZED)
            return
        master: Master = websocket.state.master
        await stream_events(master.events, websocket)

    @app.websocket("/ws/worker")
    async def worker_socket(websocket: WebSocket) -> None:
        master: Master = websocket.state.master
        try:
            identity = await authenticate_worker(master.storage, websocket.headers)
        except Refused as exc:
            logger.warning("worker connection refused from %s: %s", websocket.client, exc)
            await websocket.close(CLOSE_UNAUTHORIZED)
            return
        except StorageUnavailable as exc:  # the worker tries again with its backoff
            master.metrics.storage_errors.inc()
            logger.warning("worker from %s not authenticated (database unavailable): %s", websocket.client, exc)
            await websocket.close(1013)
            return
        except Exception:
            logger.exception("worker authentication failed")
            await websocket.close(1011)
            return
        await websocket.accept()
        await master.serve_worker(WorkerSession(master.session_services, websocket, identity.worker_id, identity.user))

    return app
