"""The OpenAPI document as clients see it: every error documented as a problem document.

FastAPI documents validation errors as `application/json` with its own schema; the api answers
every error as `application/problem+json` (`errors.py`). This rewrites the generated document
once: a `Problem` schema, every 4xx/5xx response of an operation as `application/problem+json`,
and a `default` response for the errors an operation does not list (401, 403, 404, 503, ...).

It also puts the configuration file's JSON schema (the one `podium schema` prints) into the
components, as `Configuration`, so that the body of `applyConfiguration` is declared with it and
client generators (openapi-python-client, ...) get typed models instead of a bare object.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from podium_model.config import configuration_schema
from podium_model.problems import PROBLEM_MEDIA_TYPE, Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def problem_schema() -> dict[str, Any]:
    """The JSON schema of a problem document (extra members allowed)."""
    schema = Problem.model_json_schema()
    schema["description"] = "An RFC 9457 problem document; validation errors add `errors` ({loc, msg, type})."
    return schema


CONFIGURATION_REF = {"$ref": "#/components/schemas/Configuration"}


def _add_configuration_schema(schemas: dict[str, Any]) -> None:
    """Add the configuration's schema and its `$defs` to `schemas`, refs rewritten to components.

    A definition whose name the api's own models already use with another shape gets the
    `Configuration` prefix, so that neither changes.
    """
    schema = configuration_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})
    schema.pop("$schema", None)
    names = {
        name: name if schemas.get(name, definition) == definition else f"Configuration{name}"
        for name, definition in definitions.items()
    }

    def relink(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return {**node, "$ref": f"#/components/schemas/{names[ref.removeprefix('#/$defs/')]}"}
            return {key: relink(value) for key, value in node.items()}
        if isinstance(node, list):
            return [relink(item) for item in node]
        return node

    for name, definition in definitions.items():
        renamed = relink(definition)
        if names[name] != name:
            renamed["title"] = names[name]  # generators name models after titles
        schemas[names[name]] = renamed
    schemas["Configuration"] = relink(schema)


def rewrite(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with every error response as `application/problem+json` and a `default` error."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = problem_schema()
    _add_configuration_schema(schemas)
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
