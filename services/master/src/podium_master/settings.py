"""Settings of the master: `PODIUM_MASTER_*` (and a few shared `PODIUM_*`) variables, under flags.

`__main__` passes the flags given on the command line; pydantic-settings reads the
environment for the rest (an empty variable counts as unset), as the api does. Tests build
`MasterSettings(...)` directly.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from podium_storage.logs import LogStoreKind

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./.podium/podium.db"
DEFAULT_LOG_DIR = "./.podium/logs"


MASTER_ID_LENGTH = 64
"""The longest `--master-id` (the workers' `master` column)."""


def default_master_id() -> str:
    """`hostname:pid`, cut to `MASTER_ID_LENGTH` (the pid kept): unique among the masters of a database."""
    suffix = f":{os.getpid()}"
    return socket.gethostname()[: MASTER_ID_LENGTH - len(suffix)] + suffix


def _shared(name: str, *variables: str) -> AliasChoices:
    """Its `PODIUM_MASTER_` variable, then the variables shared with the api (the name itself: `populate_by_name`)."""
    return AliasChoices(f"PODIUM_MASTER_{name.upper()}", *variables)


class MasterSettings(BaseSettings):
    """Everything the master needs to start; tests build it directly."""

    model_config = SettingsConfigDict(
        env_prefix="PODIUM_MASTER_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    master_id: str = Field(
        default_factory=default_master_id,
        min_length=1,
        max_length=MASTER_ID_LENGTH,
        description="This master's id among the masters of one database (default `hostname:pid`); "
        "recorded on the workers it holds",
    )
    leader_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between a master's tries to lead (PostgreSQL, MongoDB) and the leader's checks of "
        "its lock",
    )
    host: str = Field(default="127.0.0.1", description="Interface to listen on")
    port: int = Field(default=8701, ge=0, le=65535, description="Port of the control API and the worker websocket")
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=_shared("database_url", "PODIUM_DATABASE_URL"),
        description="SQLAlchemy URL of the database",
    )
    log_store: LogStoreKind = Field(
        default="directory",
        validation_alias=_shared("log_store", "PODIUM_LOG_STORE"),
        description="Where run logs are kept: `directory` (files under `log_dir`, shared with the api) or "
        "`database` (PostgreSQL or MongoDB: nothing shared but the database)",
    )
    log_dir: Path = Field(
        default=Path(DEFAULT_LOG_DIR),
        validation_alias=_shared("log_dir", "PODIUM_LOG_DIR"),
        description="Directory of the run logs (the directory store) and of the artifacts, shared with the api",
    )
    config: Path | None = Field(default=None, description="Configuration file applied at start-up")
    control_secret: SecretStr | None = Field(
        default=None,
        validation_alias=_shared("control_secret", "PODIUM_CONTROL_SECRET"),
        description="Shared secret of the control API",
    )
    secrets_key: SecretStr | None = Field(
        default=None,
        validation_alias=_shared("secrets_key", "PODIUM_SECRETS_KEY"),
        description="Keys opening project secrets (whitespace-separated, the first seals; see docs/security.md); "
        "without one, runs of jobs naming secrets end `exception`",
    )
    api_url: str | None = Field(
        default=None, description="Public api URL given to run commands as PODIUM_API_URL (with PODIUM_TOKEN)"
    )
    migrate: bool = Field(default=True, description="Migrate the database schema at start-up")
    selector: str | None = Field(default=None, description="Worker selector as `module:callable`")
    sweep_interval: float = Field(default=5.0, gt=0, description="Seconds between safety dispatch sweeps")
    heartbeat_timeout: float = Field(default=30.0, gt=0, description="A silent worker is dropped after this")
    heartbeat_write_interval: float = Field(
        default=5.0, gt=0, description="Seconds between writes of the workers' last_seen"
    )
    pending_expiry: float = Field(default=86400.0, gt=0, description="Pending runs are cancelled after this")
    worker_lost_timeout: float = Field(
        default=900.0, ge=0, description="Running runs of a worker away this long end `exception` (0: never)"
    )
    bounce_limit: int = Field(
        default=5, ge=1, description="A run whose execute bounced this often within `bounce_window` ends `exception`"
    )
    bounce_window: float = Field(default=600.0, gt=0, description="Seconds over which a run's bounces are counted")
    bounce_delay: float = Field(
        default=0.25, gt=0, description="Seconds a bounced run is held back from dispatch (doubling per bounce)"
    )
    abort_grace: float = Field(default=10.0, ge=0, description="Seconds between SIGTERM and SIGKILL on abort")
    request_timeout: float = Field(default=30.0, gt=0, description="Seconds a worker has to answer a request")
    max_message_size: int = Field(
        default=2 << 20, gt=0, description="Largest text message accepted from a worker (results are 1 MiB at most)"
    )
    max_chunk_size: int = Field(default=4 << 20, gt=0, description="Largest binary log frame accepted from a worker")
    retention_days: float | None = Field(default=None, ge=0, description="Keep final runs this long (None/0: forever)")
    retention_projects: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict,
        description="Per-project retention in days (0: forever); the variable is `PROJECT=DAYS,PROJECT=DAYS`",
    )
    retention_interval: float = Field(default=3600.0, gt=0, description="Seconds between retention passes")
    retention_batch: int = Field(default=100, gt=0, description="Runs deleted per retention step")
    delivery_retry_delay: float = Field(
        default=5.0,
        gt=0,
        description="Seconds before a failed delivery (webhooks out) is tried again; doubling per attempt",
    )
    delivery_retry_max: float = Field(
        default=300.0, gt=0, description="The longest wait between two attempts of a delivery, in seconds"
    )
    delivery_give_up: float = Field(
        default=3600.0, gt=0, description="Seconds after a run's end when its undelivered deliveries are given up"
    )
    delivery_timeout: float = Field(default=10.0, gt=0, description="Seconds one delivery attempt may take")
    log_level: str = Field(
        default="INFO", validation_alias=_shared("log_level", "PODIUM_LOG_LEVEL"), description="Logging level"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias=_shared("log_format", "PODIUM_LOG_FORMAT"), description="Service log format"
    )
    tls_cert: Path | None = Field(default=None, description="Serve https/wss with this PEM certificate")
    tls_key: Path | None = Field(default=None, description="The PEM private key of `tls_cert`")

    @field_validator("retention_projects", mode="before")
    @classmethod
    def _parse_retention(cls, value: Any) -> Any:
        """`PROJECT=DAYS,PROJECT=DAYS` (the variable's form) as a dict; a dict passes as is."""
        if not isinstance(value, str):
            return value
        return dict(parse_retention(item.strip()) for item in value.split(",") if item.strip())


def parse_retention(text: str) -> tuple[str, float]:
    """One `PROJECT=DAYS` retention (DAYS >= 0).

    Raises:
        ValueError: it is not of that form.
    """
    project, sep, days = text.partition("=")
    try:
        value = float(days)
    except ValueError:
        value = -1.0
    if not sep or not project or value < 0:
        raise ValueError(f"retention {text!r} is not PROJECT=DAYS (DAYS >= 0)")
    return project, value
