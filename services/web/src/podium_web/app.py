"""The web service: the single-page UI and the `/api/` proxy on one origin."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from podium_model import transport
from podium_model.security_headers import UI_POLICY, SecurityHeaders
from podium_web.proxy import ApiProxy, refusing_cookie_jar
from podium_web.settings import WebSettings


def create_app(settings: WebSettings | None = None) -> Starlette:
    """Build the web app.

    Args:
        settings: where the api is and where the UI files are; read from the environment
            when omitted.
    """
    settings = settings or WebSettings()
    # An https api is verified (chain and host name) against --api-ca-file or the system store.
    secure = transport.is_secure(settings.api_url)
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(connect=settings.connect_timeout, read=None, write=None, pool=None),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
        follow_redirects=False,
        trust_env=False,  # never send api traffic through an HTTP proxy from the environment
        cookies=refusing_cookie_jar(),  # shared by all browsers: one's session never goes with another's
        verify=transport.client_context(settings.api_ca_file) if secure else True,
    )
    trusted = str(settings.api_ca_file or "the system certificate store")
    index = settings.static_dir / "index.html"

    async def page(request: Request) -> Response:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})

    async def health(request: Request) -> Response:
        # The pid tells a launcher that the answer comes from the process it started, not from
        # another one already on the port.
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client:
            yield

    routes = [
        Route("/", page),
        Route("/health", health),
        Mount("/api", app=ApiProxy(settings.api_url, client, trusted=trusted)),
        Mount("/static", app=StaticFiles(directory=settings.static_dir), name="static"),
    ]
    # The api's answers pass with its own headers; the pages and files served here get the UI's.
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders, policy=UI_POLICY)])
    app.state.settings = settings
    return app
