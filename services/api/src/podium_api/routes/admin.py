"""`/admin`: configuration as code (apply, with dry-run) and service information."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from podium_api import __version__
from podium_api.deps import MasterDep, SettingsDep, StorageDep, UserDep
from podium_api.errors import ApiError, InvalidInput
from podium_api.permissions import operation
from podium_model._base import Model
from podium_model.config import Change, ConfigurationError, parse_configuration
from podium_storage.configuration import apply_configuration

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", tags=["admin"])

MAX_CONFIGURATION_BYTES = 10 * 1024 * 1024
_CONTENT_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/plain")


class PayloadTooLarge(ApiError):
    """The request body exceeds what the operation accepts."""

    slug, title, status = "payload-too-large", "Payload too large", 413


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


_BODY_SCHEMA: dict[str, Any] = {"type": "object", "description": "The configuration file (DESIGN section 5)"}


@router.put(
    "/configuration",
    response_model=ConfigurationResult,
    responses={413: {"description": "Body too large"}, 422: {"description": "Invalid configuration"}},
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
    storage: StorageDep,
    master: MasterDep,
    dry_run: Annotated[bool, Query()] = False,
) -> ConfigurationResult:
    """Create or update what the file names and remove the jobs and schedules it no longer names.

    The body is the file as JSON, or as YAML with `Content-Type: application/yaml`.
    """
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in _CONTENT_TYPES:
        raise InvalidInput(f"unsupported content type {content_type!r}; send JSON or YAML")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CONFIGURATION_BYTES:
            raise PayloadTooLarge(f"a configuration may not exceed {MAX_CONFIGURATION_BYTES} bytes")
    try:
        configuration = parse_configuration(body, source="body")
    except ConfigurationError as exc:
        errors = [{"loc": ["body"], "msg": problem, "type": "configuration"} for problem in exc.problems]
        raise InvalidInput("; ".join(exc.problems[:5]), errors=errors) from None
    changes = await apply_configuration(storage, configuration, dry_run=dry_run)
    if not dry_run:
        logger.info("configuration applied by %s: %d changes", principal.id, len(changes))
        if changes:
            master.dispatch()
    return ConfigurationResult(dry_run=dry_run, changes=changes)


@router.get("/info", response_model=ServiceInfo, **operation("getServiceInfo", summary="Service information"))
async def get_service_info(settings: SettingsDep, master: MasterDep) -> ServiceInfo:
    """Version, database kind, master URL and reachability of this api instance."""
    scheme = settings.database_url.split(":", 1)[0]
    reachable = await master.health() is not None
    return ServiceInfo(
        version=__version__,
        database=scheme,
        master_url=settings.master_url,
        master="ok" if reachable else "unreachable",
        log_dir=str(settings.log_dir),
    )
