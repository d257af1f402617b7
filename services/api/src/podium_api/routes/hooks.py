"""`/hooks/{project}/{trigger}`: webhooks that start runs (docs/jobs.md, Webhooks).

No session: a request proves itself with the trigger's secret, either as GitHub signs
(`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`) or as a bearer token
(`Authorization: Bearer <the secret's value>`). Both are compared in constant time. An unknown
project and an unknown trigger answer the same 404, so a caller without a secret learns no
more than that the hook does not exist.

The body (at most `WEBHOOK_BODY_BYTES`, enforced by the request guard) must be JSON; the
trigger's templates map its fields to the run's parameters (`podium_templates.render_payload`),
and it is stored as the run's payload (`Storage.put_run_payload`) before the run is created,
so the master never dispatches a webhook run without it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from podium_api.deps import ControlDep, StorageDep
from podium_api.errors import Conflict, InvalidInput, NotFound, Unauthorized
from podium_api.permissions import operation
from podium_api.routes.jobs import validate_parameters
from podium_model import Job, Run, RunSource, concurrency_key, new_id
from podium_model.jobs import WebhookTrigger
from podium_model.limits import WEBHOOK_BODY_BYTES
from podium_model.parameters import secret_keys
from podium_model.runs import masked_run
from podium_storage.interface import Storage
from podium_storage.sealing import SealingError, SecretsKeys
from podium_templates import MissingField, TemplateError, render_payload

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/hooks", tags=["hooks"])

SIGNATURE_HEADER = "X-Hub-Signature-256"

Trigger = Annotated[str, Path(max_length=64, description="The trigger's id, as the job's `triggers` declare it")]

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"Any JSON document, at most {WEBHOOK_BODY_BYTES} bytes: the run's payload",
        "content": {"application/json": {"schema": {}}},
    }
}


async def _find(storage: Storage, project: str, trigger: str) -> tuple[Job, WebhookTrigger]:
    """The job declaring `trigger` in `project`, and the trigger; one 404 for anything unknown."""
    for job in await storage.list_jobs(project):
        for declared in job.triggers:
            if declared.id == trigger:
                return job, declared
    raise NotFound(f"no webhook {project}/{trigger}")


def _authentic(request: Request, body: bytes, secret: str) -> bool:
    """True when the request is signed with `secret` or carries it as a bearer token."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature is not None:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), secret.encode())


async def _secret(request: Request, storage: Storage, project: str, name: str) -> str:
    """The value of the trigger's secret, or a 409 saying why it cannot be read (never the value)."""
    keys: SecretsKeys | None = request.state.secrets_keys
    if keys is None:
        raise Conflict("this api has no secrets key (--secrets-key-file): webhooks cannot be verified")
    sealed = (await storage.get_sealed_secrets(project, [name])).get(name)
    if sealed is None:
        raise Conflict(f"the webhook's secret {name} is not set in project {project!r}")
    try:
        return keys.open(project, name, sealed)
    except SealingError as exc:
        raise Conflict(str(exc)) from None


def _parameters(trigger: WebhookTrigger, payload: Any) -> dict[str, str]:
    """The run's parameters the trigger maps from `payload`; a missing field is a 422 naming it."""
    values: dict[str, str] = {}
    for key, template in trigger.parameters.items():
        try:
            values[key] = render_payload(template, payload)
        except MissingField as exc:
            error = {"loc": ["body", *exc.path.split(".")[1:]], "msg": str(exc), "type": "missing"}
            raise InvalidInput(f"parameter {key!r}: {exc}", errors=[error]) from None
        except TemplateError as exc:  # refused at apply time; kept for a job stored before that check
            raise InvalidInput(f"parameter {key!r}: {exc}") from None
    return values


@router.post(
    "/{project}/{trigger}",
    status_code=201,
    response_model=Run,
    responses={
        401: {"description": "Neither a valid signature nor the secret as bearer token"},
        404: {"description": "No such webhook"},
        409: {"description": "The job is disabled, or the trigger's secret cannot be read"},
        413: {"description": f"The body is over {WEBHOOK_BODY_BYTES} bytes"},
        422: {"description": "The body is not JSON, or lacks a field the trigger maps"},
    },
    openapi_extra=_BODY,
    **operation("callWebhook", summary="Call a webhook"),
)
async def call_webhook(
    project: Annotated[str, Path(max_length=64)],
    trigger: Trigger,
    request: Request,
    storage: StorageDep,
    master: ControlDep,
) -> Run:
    """Start a run of the job declaring the trigger, its parameters read from the JSON body."""
    job, declared = await _find(storage, project, trigger)
    body = await request.body()
    if not _authentic(request, body, await _secret(request, storage, project, declared.secret)):
        logger.warning("webhook %s/%s refused: bad or missing signature", project, trigger)
        raise Unauthorized(f"the request is neither signed ({SIGNATURE_HEADER}) nor authorized with the secret")
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except ValueError:  # UnicodeDecodeError is one
        raise InvalidInput("the body is not a JSON document in UTF-8") from None
    if not job.is_enabled:
        raise Conflict(f"job {job.id!r} of project {project!r} is disabled")
    parameters = validate_parameters(job, _parameters(declared, payload))
    run_id = new_id()
    await storage.put_run_payload(run_id, text)
    source = RunSource(type="webhook", trigger=trigger)
    key = concurrency_key(job, parameters)
    secret = secret_keys(job.parameters)
    run = await storage.create_run(
        project, job.id, parameters, source, run_id, secret, priority=job.priority, concurrency_key=key
    )
    logger.info("run %s of %s/%s triggered by webhook %s", run.id, project, job.id, trigger)
    master.run_created()
    return masked_run(run)
