"""The application factory: `create_app(settings)` builds the FastAPI app of the api service.

Nothing is created at import time: the lifespan opens the storage, the log store and the
masters' clients and their event feed, and puts them on the request state where `deps` reads them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from podium_api import __version__, docs, openapi
from podium_api.errors import problem_handlers
from podium_api.feed import MasterFeed
from podium_api.limits import RequestGuard
from podium_api.masters import Masters
from podium_api.metrics import ApiMetrics, MetricsMiddleware
from podium_api.passwords import PasswordPool
from podium_api.permissions import OPERATIONS
from podium_api.routes import ROUTERS
from podium_api.settings import ApiSettings
from podium_api.throttle import LoginThrottle, Policy
from podium_model.security_headers import API_POLICY, DOCS_POLICY, SecurityHeaders
from podium_storage import open_storage
from podium_storage.interface import Storage
from podium_storage.logs import check_log_store, open_log_store
from podium_storage.secretfiles import secrets_keys

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

TAGS = [
    {"name": "health", "description": "Liveness and readiness"},
    {"name": "me", "description": "Login, logout, my profile and my tokens"},
    {"name": "projects", "description": "Projects: namespaces of jobs, runs and schedules"},
    {"name": "jobs", "description": "Jobs, and triggering their runs"},
    {"name": "hooks", "description": "Webhooks: signed requests that start runs, without a session"},
    {"name": "runs", "description": "Runs: status, logs, results, cancel and abort"},
    {"name": "deliveries", "description": "Webhooks out: the POSTs announcing runs' ends, with every attempt"},
    {"name": "schedules", "description": "Cron schedules"},
    {"name": "secrets", "description": "Project secrets: set and delete values, list names (values never answered)"},
    {"name": "workers", "description": "The workers of the fleet"},
    {"name": "users", "description": "User administration"},
    {"name": "access", "description": "Grants of roles on projects, and groups of users"},
    {"name": "events", "description": "Live run and worker changes (server-sent events)"},
    {"name": "admin", "description": "Configuration as code and service information"},
    {"name": "audit", "description": "The audit log of administrative changes"},
]


def create_app(settings: ApiSettings | None = None, storage: Storage | None = None) -> FastAPI:
    """Build the api application.

    Args:
        settings: the configuration; read from `PODIUM_*` variables when None (uvicorn --factory).
            A malformed secrets key, or the database log store on SQLite, raises `ValueError`.
        storage: an already-open storage to use instead of opening `settings.database_url`
            (in-process tests); the caller keeps ownership and closes it.
    """
    settings = settings or ApiSettings()
    keys = secrets_keys(settings.secrets_key.get_secret_value())  # a malformed key fails here, at start
    check_log_store(settings.log_store, settings.database_url)  # the database store on SQLite, likewise

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            if storage is None:
                opened: Storage = await stack.enter_async_context(open_storage(settings.database_url))
            else:
                opened = storage
            secret = settings.control_secret.get_secret_value()
            feed = MasterFeed(secret=secret, fallback=settings.events_fallback, ca_file=settings.master_ca_file)
            stack.push_async_callback(feed.close)
            master = Masters(
                settings.master_urls,
                secret,
                feed,
                settings.master_timeout,
                settings.master_ca_file,
                settings.master_discovery,
                runs_announced=opened.announces_new_runs,
            )
            stack.push_async_callback(master.close)
            await master.start()
            passwords = PasswordPool(settings.hash_threads)
            stack.callback(passwords.close)
            throttle = LoginThrottle(
                user=Policy(settings.login_user_failures, settings.login_delay, settings.login_max_delay),
                address=Policy(settings.login_address_failures, settings.login_delay, settings.login_max_delay),
            )
            discovered = " (discovered by dns)" if settings.master_discovery == "dns" else ""
            logger.info("podium-api %s ready (masters %s%s)", __version__, ", ".join(master.urls), discovered)
            yield {
                "settings": settings,
                "storage": opened,
                "logs": open_log_store(settings.log_store, settings.log_dir, opened),
                "master": master,
                "feed": feed,
                "passwords": passwords,
                "throttle": throttle,
                "secrets_keys": keys,
            }

    app = FastAPI(
        title="Podium API",
        version=__version__,
        description="The public HTTP API of Podium: projects, jobs, runs, schedules, workers and users.",
        lifespan=lifespan,
        exception_handlers=problem_handlers(),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # docs.install serves both pages with their assets, offline
        redoc_url=None,
        openapi_tags=TAGS,
    )
    app.add_middleware(RequestGuard)
    doc_pages = {f"{API_PREFIX}/docs": DOCS_POLICY, f"{API_PREFIX}/redoc": DOCS_POLICY}
    app.add_middleware(SecurityHeaders, policy=API_POLICY, policies=doc_pages)
    app.state.metrics = ApiMetrics()
    templates = {
        route.operation_id: API_PREFIX + route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.operation_id
    }
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics, templates=templates)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    _check_operations()
    openapi.install(app)
    docs.install(app, API_PREFIX)
    return app


def _check_operations() -> None:
    """Every entry of the permission table has a route (routes outside the table fail at import)."""
    routed = {getattr(route, "operation_id", None) for router in ROUTERS for route in router.routes}
    missing = set(OPERATIONS) - routed
    if missing:
        raise RuntimeError(f"permission table names operations without a route: {sorted(missing)}")
