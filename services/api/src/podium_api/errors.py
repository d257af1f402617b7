"""Domain errors of the api and the one handler map that turns every error into a problem.

Route code raises these, never `HTTPException`; `problem_handlers()` answers each as
`application/problem+json` (RFC 9457) with a stable `type` and `title`.

Error tree::

    ApiError
    ├── NotFound          404  an entity (project, job, run, ...) does not exist
    ├── Conflict          409  the request contradicts the current state
    │   └── InvalidTransition  409  the run's status forbids the command
    ├── InvalidInput      422  the body or query is well-formed but wrong
    ├── Unauthorized      401  missing, unknown, expired or disabled credentials
    ├── Forbidden         403  authenticated, but the roles do not allow it
    └── TooManyRequests   429  throttled (failed logins); carries `Retry-After`

Storage errors map too: `StorageUnavailable` → 503, `AlreadyExists` → 409, `InvalidCursor` →
422. Anything else is a 500 whose details go to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from podium_model.problems import PROBLEM_MEDIA_TYPE, Problem
from podium_storage.interface import AlreadyExists, InvalidCursor, StorageUnavailable

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """Base of the errors route code raises; `slug`, `title` and `status` make the problem."""

    slug = "error"
    title = "Error"
    status = 400

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra


class NotFound(ApiError):
    """The addressed entity does not exist."""

    slug, title, status = "not-found", "Not found", 404


class Conflict(ApiError):
    """The request contradicts the current state of an entity."""

    slug, title, status = "conflict", "Conflict", 409


class InvalidTransition(Conflict):
    """The run's status does not allow the command (cancel a running run, ...)."""

    slug, title = "invalid-transition", "Invalid state transition"


class InvalidInput(ApiError):
    """The request is well-formed but its content is wrong (unknown parameter, ...)."""

    slug, title, status = "validation-error", "Invalid request", 422


class Unauthorized(ApiError):
    """No valid credentials: missing, unknown, expired, or of a disabled user."""

    slug, title, status = "unauthorized", "Authentication required", 401


class Forbidden(ApiError):
    """Valid credentials whose roles do not allow the operation."""

    slug, title, status = "forbidden", "Forbidden", 403


class TooManyRequests(ApiError):
    """Too many failed attempts: try again in `retry_after` seconds."""

    slug, title, status = "too-many-requests", "Too many requests", 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A response carrying `problem` as `application/problem+json`."""
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _instance(request: Request) -> str:
    return request.url.path


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": 'Bearer realm="podium", Basic realm="podium"'} if exc.status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    problem = Problem.of(exc.slug, exc.title, exc.status, exc.detail, instance=_instance(request), **exc.extra)
    return problem_response(problem, headers)


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors reduced to JSON-safe members (pydantic's `ctx` may hold exceptions)."""
    cleaned = []
    for error in errors:
        cleaned.append(
            {
                "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return cleaned


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_errors(exc.errors())
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
    problem = Problem.of(
        "validation-error", "Invalid request", 422, detail or None, instance=_instance(request), errors=errors
    )
    return problem_response(problem)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    slugs = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized", 403: "forbidden"}
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    if status == 404 and detail is None:
        detail = f"no route {request.method} {request.url.path}"
    slug = slugs.get(status, title.lower().replace(" ", "-"))
    problem = Problem.of(slug, title, status, detail, instance=_instance(request))
    return problem_response(problem, exc.headers)


RETRY_AFTER = "5"
"""Seconds a client is asked to wait after a 503 (the database is away): the master retries its
own writes from 0.1 s up to 5 s, so the database is usually back in use by then."""


async def _storage_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    problem = Problem.of(
        "service-unavailable", "Service unavailable", 503, "the database cannot be reached; retry later",
        instance=_instance(request),
    )  # fmt: skip
    return problem_response(problem, {"Retry-After": RETRY_AFTER})


async def _already_exists(request: Request, exc: Exception) -> Response:
    problem = Problem.of("already-exists", "Already exists", 409, str(exc) or None, instance=_instance(request))
    return problem_response(problem)


async def _invalid_cursor(request: Request, exc: Exception) -> Response:
    problem = Problem.of("invalid-cursor", "Invalid cursor", 422, "the cursor was not produced by this listing",
                         instance=_instance(request))  # fmt: skip
    return problem_response(problem)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = Problem.of("internal-error", "Internal server error", 500, instance=_instance(request))
    return problem_response(problem)


Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]


def problem_handlers() -> dict[int | type[Exception], Handler]:
    """The one map from exception type to problem response, given to the FastAPI factory."""
    return {
        ApiError: _api_error,
        RequestValidationError: _validation_error,
        StarletteHTTPException: _http_error,
        StorageUnavailable: _storage_unavailable,
        AlreadyExists: _already_exists,
        InvalidCursor: _invalid_cursor,
        Exception: _unexpected,
    }
