"""The OpenAPI document as clients see it: every error documented as a problem document.

FastAPI documents validation errors as `application/json` with its own schema; the api answers
every error as `application/problem+json` (`errors.py`). This rewrites the generated document
once: a `Problem` schema, every 4xx/5xx response of an operation as `application/problem+json`,
and a `default` response for the errors an operation does not list (401, 403, 404, 503, ...).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from podium_model.problems import PROBLEM_MEDIA_TYPE, Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def problem_schema() -> dict[str, Any]:
    """The JSON schema of a problem document (extra members allowed)."""
    schema = Problem.model_json_schema()
    schema["description"] = "An RFC 9457 problem document; validation errors add `errors` ({loc, msg, type})."
    return schema


def rewrite(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with every error response as `application/problem+json` and a `default` error."""
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = problem_schema()
    for item in document.get("paths", {}).values():
        for method, spec in item.items():
            if method not in METHODS:
                continue
            responses = spec.setdefault("responses", {})
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    response["content"] = PROBLEM_CONTENT
            responses.setdefault(
                "default", {"description": "An error, as a problem document", "content": PROBLEM_CONTENT}
            )
    return document


def install(app: FastAPI) -> None:
    """Serve the rewritten document from `app.openapi()` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = rewrite(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
