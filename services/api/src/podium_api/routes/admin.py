"""`/admin`: configuration as code (apply, with dry-run) and service information."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from podium_api import __version__
from podium_api.deps import AccessDep, ControlDep, SettingsDep, StorageDep, UserDep
from podium_api.errors import ApiError, Forbidden, InvalidInput
from podium_api.permissions import operation
from podium_model._base import Model
from podium_model.access import ProjectPermission
from podium_model.config import (
    Change,
    ConfigurationError,
    ConfigurationFormat,
    ConfigurationTooLarge,
    parse_configuration,
)
from podium_model.limits import CONFIGURATION_BYTES
from podium_storage.configuration import apply_configuration

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", tags=["admin"])

MAX_AUDITED_CHANGES = 1000
"""The changes of one apply listed in its audit entry (all are counted)."""

# JSON is parsed by a JSON parser; YAML only when the client says so.
_FORMATS: dict[str, ConfigurationFormat] = {
    "application/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
}


class PayloadTooLarge(ApiError):
    """The request body exceeds what the operation accepts."""

    slug, title, status = "payload-too-large", "Payload too large", 413


class UnsupportedMediaType(ApiError):
    """The body's content type is not one the operation reads."""

    slug, title, status = "unsupported-media-type", "Unsupported media type", 415


class ConfigurationResult(Model):
    """What applying a configuration changed (or would change, with `dry_run`)."""

    dry_run: bool
    changes: list[Change]


class ServiceInfo(Model):
    """What an administrator needs to know of this api instance."""

    version: str
    database: str
    master_url: str
    master: str
    log_dir: str


# The configuration's own JSON schema, put into the components by `podium_api.openapi`.
_BODY_SCHEMA: dict[str, Any] = {"$ref": "#/components/schemas/Configuration"}


@router.put(
    "/configuration",
    response_model=ConfigurationResult,
    responses={
        413: {"description": "Body too large, or larger than the limit once YAML aliases are expanded"},
        415: {"description": "Neither JSON nor YAML"},
        422: {"description": "Invalid configuration"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _BODY_SCHEMA},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
    **operation("applyConfiguration", summary="Apply a configuration file"),
)
async def apply_configuration_file(
    request: Request,
    principal: UserDep,
    access: AccessDep,
    storage: StorageDep,
    master: ControlDep,
    dry_run: Annotated[bool, Query()] = False,
) -> ConfigurationResult:
    """Create or update what the file names and remove the jobs and schedules it no longer names.

    The body is the file as JSON, or as YAML with `Content-Type: application/yaml`; the request
    guard has already bounded it to `CONFIGURATION_BYTES`. A project's
    maintainer may apply a file naming only projects they maintain (403 otherwise, whether the
    other projects exist or not); creating a project takes an administrator.
    """
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    format = _FORMATS.get(content_type)
    if format is None:
        raise UnsupportedMediaType(f"{content_type!r} is neither application/json nor application/yaml")
    body = await request.body()
    try:
        configuration = parse_configuration(body, "body", format)
    except ConfigurationTooLarge as exc:
        raise PayloadTooLarge(exc.problems[0], limit="configuration", limit_bytes=CONFIGURATION_BYTES) from None
    except ConfigurationError as exc:
        raise _invalid(exc) from None
    maintained = {project.id: ProjectPermission.maintain in access.on(project.id) for project in configuration.projects}
    refused = [project for project, may in maintained.items() if not may]
    if refused:
        # The same answer for a project that exists unseen and one that does not: nothing leaks.
        raise Forbidden(f"you may not change the projects {refused[:20]!r} (only those you maintain)")
    try:
        changes = await apply_configuration(storage, configuration, dry_run=dry_run)
    except ConfigurationError as exc:  # a job names a secret its project lacks: nothing written
        raise _invalid(exc) from None
    if not dry_run and changes:
        details = {"count": len(changes), "changes": [change.describe() for change in changes[:MAX_AUDITED_CHANGES]]}
        await storage.record_audit(principal.id, "configuration.apply", "configuration", details)
        master.configuration_changed()
    return ConfigurationResult(dry_run=dry_run, changes=changes)


def _invalid(exc: ConfigurationError) -> InvalidInput:
    """A configuration's problems as a 422, each one an `errors` member."""
    errors = [{"loc": ["body"], "msg": problem, "type": "configuration"} for problem in exc.problems]
    return InvalidInput("; ".join(exc.problems[:5]), errors=errors)


@router.get("/info", response_model=ServiceInfo, **operation("getServiceInfo", summary="Service information"))
async def get_service_info(settings: SettingsDep, master: ControlDep) -> ServiceInfo:
    """Version, database kind, master URLs (comma-separated) and reachability (of every one) of this api instance."""
    scheme = settings.database_url.split(":", 1)[0]
    reachable = all(state.reachable for state in await master.probe())
    return ServiceInfo(
        version=__version__,
        database=scheme,
        master_url=",".join(settings.master_urls),
        master="ok" if reachable else "unreachable",
        log_dir=str(settings.log_dir),
    )
