"""Service logging: one line per event, as text or as JSON lines for log shippers.

Here because every service needs the same format and the model library is the one package
they all install (stdlib only, so the worker stays light).

`configure("json", "INFO")` makes every record one JSON object with `time`, `level`,
`logger` and `message`, plus the ids given through `extra=` (`run_id`, `worker_id`,
`job`, `project`, `connection_id`...) and `exception` when there is one.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

# Attributes every LogRecord has: anything else on a record came through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str, level: str) -> None:
    """Send every logger's records to stderr in `log_format` ("text" or "json") from `level` up.

    Raises:
        ValueError: an unknown format or level.
    """
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(FORMATS)}")
    level = level.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    formatter: dict[str, Any] = {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"main": formatter},
            "handlers": {
                "stderr": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
            },
            "root": {"level": level, "handlers": ["stderr"]},
            # uvicorn's own loggers propagate to the root logger in the same format
            "loggers": {name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")},
        }
    )
