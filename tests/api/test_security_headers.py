"""The api's answers carry the security headers; its docs pages get the policy they need."""

from __future__ import annotations

from podium_model.security_headers import API_POLICY, DOCS_POLICY
from tests.api.conftest import Api

COMMON = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


async def test_json_problems_and_docs_carry_the_headers(api: Api) -> None:
    """JSON, a refused oversized body and a 404 get the strict policy; the docs pages theirs."""
    answers = [
        await api.client.get("/api/v1/health"),
        await api.client.get("/api/v1/projects", headers=api.auth("viewer")),
        await api.client.post(
            "/api/v1/me/login", content=b"x" * (3 << 20), headers={"Content-Type": "application/json"}
        ),
        await api.client.get("/api/v1/nothing-here"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 413, 404]
    for answer in answers:
        assert answer.headers["content-security-policy"] == API_POLICY, answer.request.url
        assert {k: answer.headers[k] for k in COMMON} == COMMON
    for page in ("/api/v1/docs", "/api/v1/redoc", "/api/v1/docs/assets/swagger-init.js"):
        answer = await api.client.get(page)
        assert answer.status_code == 200 and answer.headers["content-security-policy"] == DOCS_POLICY, page
