"""Settings of the api service, from flags (see `__main__`) and `PODIUM_*` variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from podium_model import transport
from podium_storage.logs import LogStoreKind
from podium_storage.secretfiles import read_secret_file


class ApiSettings(BaseSettings):
    """Everything the api service needs; built by `__main__` or by tests, never at import."""

    model_config = SettingsConfigDict(env_prefix="PODIUM_API_", extra="ignore", populate_by_name=True)

    host: str = Field(default="127.0.0.1", description="Address to listen on (loopback unless configured)")
    port: int = Field(default=8702, ge=0, le=65535, description="TCP port to listen on")
    database_url: str = Field(
        default="sqlite+aiosqlite:///./.podium/podium.db",
        validation_alias=AliasChoices("database_url", "PODIUM_API_DATABASE_URL", "PODIUM_DATABASE_URL"),
        description="Database shared with the master (sqlite+aiosqlite://, postgresql+asyncpg://)",
    )
    log_store: LogStoreKind = Field(
        default="directory",
        validation_alias=AliasChoices("log_store", "PODIUM_API_LOG_STORE", "PODIUM_LOG_STORE"),
        description="Where run logs are kept, as the master keeps them: `directory` (files under `log_dir`) "
        "or `database` (PostgreSQL or MongoDB)",
    )
    log_dir: Path = Field(
        default=Path("./.podium/logs"),
        validation_alias=AliasChoices("log_dir", "PODIUM_API_LOG_DIR", "PODIUM_LOG_DIR"),
        description="Log store directory (the directory store) and artifacts directory, shared with the master",
    )
    master_url: str = Field(
        default="http://127.0.0.1:8701",
        validation_alias=AliasChoices("master_url", "PODIUM_API_MASTER_URL", "PODIUM_MASTER_URL"),
        description="Base URL of the master's control API; several masters: their URLs, comma-separated",
    )
    master_discovery: Literal["none", "dns"] = Field(
        default="none",
        description="`dns`: each master URL's host name stands for every address it resolves to, one master "
        "each, resolved again every 10 s (compose `--scale master=N`, a Kubernetes headless service)",
    )
    control_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("control_secret", "PODIUM_API_CONTROL_SECRET", "PODIUM_CONTROL_SECRET"),
        description="Secret shared with the master, sent as X-Podium-Control-Secret",
    )
    control_secret_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "control_secret_file", "PODIUM_API_CONTROL_SECRET_FILE", "PODIUM_CONTROL_SECRET_FILE"
        ),
        description="File holding the control secret (wins over `control_secret`)",
    )
    database_url_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("database_url_file", "PODIUM_API_DATABASE_URL_FILE", "PODIUM_DATABASE_URL_FILE"),
        description="File holding the database URL, which may carry a password (wins over `database_url`)",
    )
    secrets_key: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("secrets_key", "PODIUM_API_SECRETS_KEY", "PODIUM_SECRETS_KEY"),
        description="Keys sealing project secrets, whitespace-separated, the first seals (see docs/security.md); "
        "without one, secrets cannot be set",
    )
    secrets_key_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("secrets_key_file", "PODIUM_API_SECRETS_KEY_FILE", "PODIUM_SECRETS_KEY_FILE"),
        description="File holding the secrets keys (wins over `secrets_key`)",
    )
    token_lifetime: timedelta = Field(
        default=timedelta(days=7), description="How long a token issued by login stays valid"
    )
    master_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for the master's control API")
    events_fallback: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between storage re-checks of live streams while the master's feed is down",
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="A bearer token that may read GET /api/v1/metrics only (for a Prometheus scraper); off when empty",
    )
    login_user_failures: int = Field(
        default=10, ge=0, description="Failed logins of one user id before each further one is delayed"
    )
    login_address_failures: int = Field(
        default=30, ge=0, description="Failed logins from one client address before each further one is delayed"
    )
    login_delay: float = Field(
        default=1.0, gt=0, description="Seconds of the first delay after the free failures; doubles with each failure"
    )
    login_max_delay: float = Field(default=300.0, gt=0, description="The longest delay of a throttled login, seconds")
    hash_threads: int = Field(
        default=2, ge=1, le=64, description="Password hashes computed at once (each Argon2id hash holds 64 MiB)"
    )
    log_level: str = Field(default="INFO", description="Logging level of the service")
    tls_cert: Path | None = Field(
        default=None, description="PEM certificate: serve https with it and `tls_key` (PODIUM_API_TLS_CERT)"
    )
    tls_key: Path | None = Field(default=None, description="PEM private key of `tls_cert` (PODIUM_API_TLS_KEY)")
    master_ca_file: Path | None = Field(
        default=None,
        description="CA bundle verifying an https master (PODIUM_API_MASTER_CA_FILE; None: the system store)",
    )
    allow_insecure: bool = Field(
        default=False,
        description="Allow a plain http:// master off loopback, sending the control secret in clear",
    )

    @property
    def master_urls(self) -> list[str]:
        """The masters' base URLs, in the order given, each once (`master_url` is comma-separated)."""
        urls = (url.strip().rstrip("/") for url in self.master_url.split(","))
        return list(dict.fromkeys(url for url in urls if url))

    @model_validator(mode="after")
    def _read_secret_files(self) -> ApiSettings:
        """Fill each secret from its file, when one is given (a missing or empty file is an error)."""
        if self.control_secret_file is not None:
            self.control_secret = SecretStr(read_secret_file(self.control_secret_file, "--control-secret-file"))
        if self.database_url_file is not None:
            self.database_url = read_secret_file(self.database_url_file, "--database-url-file")
        if self.secrets_key_file is not None:
            self.secrets_key = SecretStr(read_secret_file(self.secrets_key_file, "--secrets-key-file"))
        return self


def check_transport(settings: ApiSettings) -> None:
    """Refuse transport settings the api must not run with.

    Raises:
        ValueError: no master URL is given; a master URL is not http(s)://, or is plain http:// to
            a host off loopback without `allow_insecure`, or is https:// with `--master-discovery
            dns`; a CA, certificate or key file is not readable; only one of `tls_cert` and
            `tls_key` is given.
    """
    urls = settings.master_urls
    if not urls:
        raise ValueError("--master-url names no master")
    for url in urls:
        transport.check_url(
            url,
            option="--master-url",
            plain="http",
            allow_insecure=settings.allow_insecure,
            secret="the control secret",
        )
        if settings.master_discovery == "dns" and urlsplit(url).scheme == "https":
            # Each discovered master is called by its address, and a certificate names host names:
            # verifying it would take the name sent apart from the address dialled, on both clients.
            raise ValueError(
                f"--master-discovery dns takes http:// master URLs only, not {url!r}: the masters are called "
                "by their addresses, which their certificates do not name (list https masters by name instead)"
            )
    transport.check_file(settings.master_ca_file, "--master-ca-file")
    transport.check_server_files(settings.tls_cert, settings.tls_key)
