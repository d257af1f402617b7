"""Login answers an unknown user and a wrong password alike, in similar time."""

from __future__ import annotations

import statistics
import time

from tests.api.conftest import Api

LOGIN = "/api/v1/me/login"
ROUNDS = 7
# Loose on purpose: Argon2 verification (tens of milliseconds) dominates both paths, while
# skipping it for unknown users would make them tens of times faster. Interleaving the calls
# exposes both paths to the same machine load, so a busy machine cannot fail the test alone.
RATIO = 3.0


async def _timed_login(api: Api, user: str) -> tuple[float, int, dict[str, object]]:
    started = time.perf_counter()
    response = await api.client.post(LOGIN, json={"user": user, "password": "not-the-password"})
    return time.perf_counter() - started, response.status_code, response.json()


async def test_unknown_user_and_wrong_password_look_alike(api: Api) -> None:
    """Same 401 problem for both, and median times within a loose factor of each other."""
    await _timed_login(api, "admin")  # warm-up: the dummy hash is made on first use
    await _timed_login(api, "nobody-here")
    unknown, wrong = [], []
    for _ in range(ROUNDS):
        took, status, body = await _timed_login(api, "nobody-here")
        unknown.append(took)
        assert status == 401
        took, status, other = await _timed_login(api, "admin")
        wrong.append(took)
        assert status == 401
        assert {k: v for k, v in body.items() if k != "instance"} == {k: v for k, v in other.items() if k != "instance"}
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 1 / RATIO < ratio < RATIO, (unknown, wrong)
