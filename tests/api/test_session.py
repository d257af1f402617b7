"""The web UI's session cookie: HttpOnly and SameSite=Strict, and changes need the session header."""

from __future__ import annotations

from tests.api.conftest import ADMIN_PASSWORD, Api

LOGIN = "/api/v1/me/login"


async def test_a_session_login_sets_a_strict_http_only_cookie_that_authenticates(api: Api) -> None:
    """`"session": true` sets the cookie; later requests carrying only the cookie are the user's."""
    plain = await api.client.post(LOGIN, json={"user": "admin", "password": ADMIN_PASSWORD})
    assert "set-cookie" not in plain.headers
    response = await api.client.post(LOGIN, json={"user": "admin", "password": ADMIN_PASSWORD, "session": True})
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("podium_session=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/api/", "Max-Age="):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain http here; https (or a forwarded https) adds it
    me = await api.client.get("/api/v1/me")  # httpx keeps the cookie
    assert me.status_code == 200 and me.json()["id"] == "admin"
    api.client.cookies.clear()
    forwarded = await api.client.post(
        LOGIN,
        json={"user": "admin", "password": ADMIN_PASSWORD, "session": True},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "secure" in forwarded.headers["set-cookie"].lower()


async def test_a_change_by_cookie_needs_the_session_header(api: Api) -> None:
    """A POST carrying only the cookie is a 403 problem without `X-Podium-Session: 1`, accepted with it."""
    await api.client.post(LOGIN, json={"user": "admin", "password": ADMIN_PASSWORD, "session": True})
    refused = await api.client.post("/api/v1/me/tokens", json={"description": "forged"})
    assert refused.status_code == 403, refused.text
    assert "x-podium-session" in refused.json()["detail"]
    created = await api.client.post(
        "/api/v1/me/tokens", json={"description": "mine"}, headers={"X-Podium-Session": "1"}
    )
    assert created.status_code == 201, created.text


async def test_logout_revokes_the_session_and_clears_the_cookie(api: Api) -> None:
    """After logout the cookie's token no longer authenticates and the cookie is expired."""
    await api.client.post(LOGIN, json={"user": "admin", "password": ADMIN_PASSWORD, "session": True})
    token = api.client.cookies["podium_session"]
    out = await api.client.post("/api/v1/me/logout", headers={"X-Podium-Session": "1"})
    assert out.status_code == 204
    assert 'podium_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    api.client.cookies.set("podium_session", token)  # a copy kept from before the logout
    again = await api.client.get("/api/v1/me")
    assert again.status_code == 401
