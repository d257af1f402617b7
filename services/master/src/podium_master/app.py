"""The master's ASGI app: health, the control API and the worker websocket (architecture page)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from podium_master.auth import Refused, authenticate_worker
from podium_master.control_events import stream_events
from podium_master.lost import seen_within
from podium_master.master import Master
from podium_master.session import WorkerSession
from podium_master.settings import MasterSettings
from podium_model import utcnow
from podium_model.control import ControlAnswer, ControlResult
from podium_model.messages import CLOSE_UNAUTHORIZED
from podium_model.problems import PROBLEM_MEDIA_TYPE, Problem
from podium_storage import StorageUnavailable, migrate, open_log_store, open_storage

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


def has_secret(settings: MasterSettings, headers: Mapping[str, str]) -> bool:
    """True when `headers` carry the control secret (never when the master has none)."""
    expected = settings.control_secret.get_secret_value() if settings.control_secret else ""
    given = headers.get(SECRET_HEADER, "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def check_secret(master: MasterDep, request: Request) -> None:
    """The dependency of every control call.

    Raises:
        ControlRefused: the secret is missing or wrong (answered 401).
    """
    if not has_secret(master.settings, request.headers):
        raise ControlRefused()


def _problem(status: int, slug: str, title: str, detail: str | None = None) -> JSONResponse:
    body = Problem.of(slug, title, status, detail).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    return _problem(401, "control-unauthorized", "Control secret missing or wrong")


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    master: Master = request.state.master
    master.metrics.storage_errors.inc()
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    response = _problem(503, "service-unavailable", "Service unavailable", "the database cannot be reached")
    response.headers["Retry-After"] = RETRY_AFTER
    return response


public = APIRouter()
"""Health and metrics."""
control = APIRouter(prefix="/control", dependencies=[Depends(check_secret)])
"""The control API the api calls; every answer is a `ControlAnswer`."""
sockets = APIRouter()
"""The websockets: the api's event feed and the workers' connections (each checks its own credentials)."""


@public.get("/health")
async def health(master: MasterDep) -> JSONResponse:
    """The master's liveness and whether its database answers (503 when not)."""
    try:
        await master.storage.ping()
    except Exception as exc:
        logger.warning("health: database unavailable: %s", exc)
        body = {"status": "unhealthy", "database": "unavailable"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER})
    # Degraded, still serving: log bytes wait on the workers until the log store has room.
    status, disk = ("degraded", "full") if master.log_space.full else ("ok", "ok")
    ids = {"master": master.master_id, "leader": master.leader.leading}  # which master, and whether it leads
    return JSONResponse({"status": status, "database": "ok", "log_disk": disk, "workers": len(master.sessions), **ids})


@public.get("/metrics")
async def metrics(master: MasterDep) -> Response:
    """The master's Prometheus metrics."""
    text = await master.metrics.render(master.sessions.values(), master.storage)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


@control.post("/dispatch")
async def dispatch(master: MasterDep) -> ControlAnswer:
    """Something may be runnable, or schedules changed: dispatch and re-read the schedules now."""
    master.dispatcher.wake()
    master.scheduler.wake()  # schedules may have changed too (configuration applied, enabled)
    return ControlAnswer(result=ControlResult.dispatching)


@control.post("/configuration")
async def configuration_changed(master: MasterDep) -> ControlAnswer:
    """Configuration was applied: re-read the projects' notifications, then as `/dispatch`."""
    await master.configuration_changed()
    return ControlAnswer(result=ControlResult.dispatching)


@control.post("/runs/{run_id}/cancel")
async def cancel(run_id: str, master: MasterDep) -> ControlAnswer:
    """Cancel a pending run through the lifecycle."""
    return await master.cancel(run_id)


@control.post("/runs/{run_id}/abort")
async def abort(run_id: str, master: MasterDep) -> ControlAnswer:
    """Abort a running run (a pending one is cancelled)."""
    return await master.abort(run_id)


@control.post("/workers/{worker_id}/refresh")
async def refresh(worker_id: str, master: MasterDep) -> ControlAnswer:
    """Re-read a worker's stored settings, then dispatch."""
    await master.dispatcher.refresh_workers(worker_id)
    master.dispatcher.wake()
    return ControlAnswer(result=ControlResult.refreshed)


@control.post("/workers/{worker_id}/disconnect")
async def disconnect(worker_id: str, master: MasterDep) -> ControlAnswer:
    """Close a worker's connection."""
    return await master.disconnect(worker_id)


@sockets.websocket("/control/events")
async def events_socket(websocket: WebSocket) -> None:
    """The master's events, for the api (the control secret is checked before accepting)."""
    master: Master = websocket.state.master
    if not has_secret(master.settings, websocket.headers):
        logger.warning("events subscription refused from %s: control secret missing or wrong", websocket.client)
        await websocket.close(CLOSE_UNAUTHORIZED)
        return
    await stream_events(master.events, websocket)


@sockets.websocket("/ws/worker")
async def worker_socket(websocket: WebSocket) -> None:
    """One worker's connection (its credentials are checked before accepting)."""
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
            master = Master(settings, storage, open_log_store(settings.log_store, settings.log_dir, storage))
            await _apply_configuration(master)
            # Workers left active by this master, or by one gone for longer than a connected worker
            # stays unseen; those of the other masters serving this database stay active.
            await storage.deactivate_workers(settings.master_id, utcnow() - seen_within(settings))
            await master.start()
            stack.push_async_callback(master.stop)
            logger.info("master ready on %s:%s", settings.host, settings.port)
            yield {"master": master}

    app = FastAPI(title="podium-master", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(ControlRefused, _refused)
    app.add_exception_handler(StorageUnavailable, _unavailable)
    for router in (public, control, sockets):
        app.include_router(router)
    return app
