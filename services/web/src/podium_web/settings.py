"""Settings of the web service: where it listens and where the api is."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from podium_model import transport

STATIC_DIR = Path(__file__).parent / "static"


class WebSettings(BaseSettings):
    """Settings of `podium-web`, from flags, `PODIUM_WEB_*` variables and `PODIUM_API_URL`."""

    model_config = SettingsConfigDict(env_prefix="PODIUM_WEB_", populate_by_name=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address to listen on (PODIUM_WEB_HOST)")
    port: int = Field(default=8080, ge=0, le=65535, description="Port to listen on (PODIUM_WEB_PORT)")
    api_url: str = Field(
        default="http://127.0.0.1:8702",
        validation_alias=AliasChoices("api_url", "PODIUM_API_URL"),
        description="Base URL of podium-api; every /api/ request is forwarded there (PODIUM_API_URL)",
    )
    static_dir: Path = Field(default=STATIC_DIR, description="Directory of the single-page UI (PODIUM_WEB_STATIC_DIR)")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a connection to the api")
    shutdown_timeout: float = Field(
        default=5.0, ge=0, description="Seconds open streams (live logs, events) may take to end on shutdown"
    )
    tls_cert: Path | None = Field(
        default=None, description="PEM certificate: serve https with it and `tls_key` (PODIUM_WEB_TLS_CERT)"
    )
    tls_key: Path | None = Field(default=None, description="PEM private key of `tls_cert` (PODIUM_WEB_TLS_KEY)")
    api_ca_file: Path | None = Field(
        default=None, description="CA bundle verifying an https api (PODIUM_WEB_API_CA_FILE; None: the system store)"
    )
    allow_insecure: bool = Field(
        default=False,
        description="Allow a plain http:// api off loopback, forwarding tokens and passwords in clear "
        "(PODIUM_WEB_ALLOW_INSECURE)",
    )


def check_transport(settings: WebSettings) -> None:
    """Refuse transport settings the web service must not run with.

    Raises:
        ValueError: the api URL is not http(s)://, or is plain http:// to a host off loopback
            without `allow_insecure` (the browsers' tokens and passwords would cross the network
            in clear); a CA, certificate or key file is not readable; only one of `tls_cert` and
            `tls_key` is given.
    """
    transport.check_url(
        settings.api_url,
        option="--api-url",
        plain="http",
        allow_insecure=settings.allow_insecure,
        secret="tokens and passwords",
    )
    transport.check_file(settings.api_ca_file, "--api-ca-file")
    transport.check_server_files(settings.tls_cert, settings.tls_key)
