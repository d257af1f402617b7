"""The master's settings: flags over `PODIUM_*` variables over defaults (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from podium_master.__main__ import build_parser, settings_from
from podium_master.settings import MasterSettings


def _settings(*argv: str) -> MasterSettings:
    return settings_from(build_parser().parse_args(list(argv)))


def test_flags_win_over_variables_and_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag given wins; a variable fills what no flag gave; an empty one leaves the default."""
    monkeypatch.setenv("PODIUM_MASTER_PORT", "9001")
    monkeypatch.setenv("PODIUM_DATABASE_URL", "sqlite+aiosqlite:///shared.db")
    monkeypatch.setenv("PODIUM_CONTROL_SECRET", "from-env")
    monkeypatch.setenv("PODIUM_MASTER_SWEEP_INTERVAL", "")
    monkeypatch.setenv("PODIUM_MASTER_REQUEST_TIMEOUT", "7")
    settings = _settings("--port", "9002", "--no-migrate")
    assert settings.port == 9002
    assert settings.database_url == "sqlite+aiosqlite:///shared.db"
    assert settings.control_secret is not None and settings.control_secret.get_secret_value() == "from-env"
    assert settings.sweep_interval == 5.0
    assert settings.request_timeout == 7.0
    assert settings.migrate is False
    assert _settings().migrate is True


def test_retention_projects_from_the_variable_and_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """`PROJECT=DAYS,...` in the variable; each `--retention-project` adds to it (and wins for its project)."""
    monkeypatch.setenv("PODIUM_MASTER_RETENTION_PROJECTS", "a=1, b=2")
    assert _settings("--retention-project", "b=5", "--retention-project", "c=0").retention_projects == {
        "a": 1.0,
        "b": 5.0,
        "c": 0.0,
    }
    monkeypatch.setenv("PODIUM_MASTER_RETENTION_PROJECTS", "a")
    with pytest.raises(ValidationError, match="PROJECT=DAYS"):
        _settings()


def test_a_bad_flag_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed `--retention-project` exits 2 with the reason, before any setting is built."""
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["--retention-project", "x=-1"])
    assert exit.value.code == 2
    assert "PROJECT=DAYS" in capsys.readouterr().err


def test_a_secret_file_wins_over_the_plain_value(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--control-secret-file` (or its variable) is read and wins over PODIUM_CONTROL_SECRET."""
    monkeypatch.setenv("PODIUM_CONTROL_SECRET", "plain")
    secret = tmp_path / "control-secret"
    secret.write_text("from-file\n")
    secret.chmod(0o600)
    settings = _settings("--control-secret-file", str(secret))
    assert settings.control_secret is not None and settings.control_secret.get_secret_value() == "from-file"
    monkeypatch.setenv("PODIUM_CONTROL_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="--control-secret-file"):
        _settings()


def test_the_log_store_is_chosen_and_the_database_store_on_sqlite_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--log-store` (or PODIUM_LOG_STORE) picks the store; `database` with a SQLite URL names what to use."""
    assert _settings().log_store == "directory"
    monkeypatch.setenv("PODIUM_LOG_STORE", "database")
    settings = _settings("--database-url", "postgresql://podium@db/podium")
    assert settings.log_store == "database"
    with pytest.raises(ValueError, match="--log-store directory"):
        _settings("--database-url", "sqlite+aiosqlite:///podium.db")
    assert _settings("--log-store", "directory", "--database-url", "sqlite:///podium.db").log_store == "directory"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--log-store", "s3"])
