"""The built UI as podium-web serves it: every asset is local, nothing comes from the internet."""

from __future__ import annotations

import re

import httpx

from tests.web.ui_support import REPOSITORY

STATIC = REPOSITORY / "services" / "web" / "src" / "podium_web" / "static"
NAMESPACES = {"http://www.w3.org/1999/xhtml", "http://www.w3.org/2000/svg", "http://www.w3.org/1998/Math/MathML"}


def test_index_loads_only_local_assets(web: str) -> None:
    """GET / is the built page; its script and stylesheet are served from /static/ by podium-web."""
    response = httpx.get(f"{web}/")
    assert response.status_code == 200
    assert "<title>Podium</title>" in response.text
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", response.text)
    assert any(asset.endswith(".js") for asset in assets) and any(asset.endswith(".css") for asset in assets)
    for asset in assets:
        if asset.startswith("data:"):
            continue
        assert asset.startswith("/static/assets/"), asset
        served = httpx.get(f"{web}{asset}")
        assert served.status_code == 200, asset
        assert served.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript", "text/css"}


def test_bundle_names_no_remote_url() -> None:
    """The committed bundle mentions no URL but XML namespaces, so the page cannot load remote code."""
    files = [path for path in (STATIC / "assets").iterdir() if path.suffix in {".js", ".css"}]
    assert files, "the UI is not built: run `make ui`"
    for path in [STATIC / "index.html", *files]:
        urls = set(re.findall(r"https?://[A-Za-z0-9./_-]+", path.read_text()))
        assert urls <= NAMESPACES, (path.name, urls - NAMESPACES)
