"""Protocol violations of a worker connection, and helpers to read its responses."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from podium_model.messages import Response


class ProtocolViolation(Exception):
    """The worker broke the protocol; the session answers an error and closes with 4400."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def result_of(response: Response, what: str) -> dict[str, Any]:
    """The result of a successful response.

    Raises:
        ProtocolViolation: the worker answered an error or nothing.
    """
    if not response.ok or response.result is None:
        detail = response.error.message if response.error else "no result"
        raise ProtocolViolation("bad-response", f"{what} failed: {detail}")
    return response.result


def first_error(exc: ValidationError) -> str:
    """The first validation error, short enough for a protocol error message."""
    errors = exc.errors()
    if not errors:
        return "invalid message"
    first = errors[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    return f"invalid message: {location}: {first.get('msg', '')}"[:500]
