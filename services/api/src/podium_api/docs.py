"""The API's documentation pages, served whole by the api so that they work offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so behind a firewall they stay blank.
These pages load the assets that the `fastapi-offline` package ships (its version is pinned in
services/api/pyproject.toml; 1.7.7 carries Swagger UI 5.32.6 and ReDoc 2.5.3) from
`/api/v1/docs/assets/`, and start Swagger UI from a script file of this package instead of an
inline script, so they also work under a `script-src 'self'` content security policy.

- `GET /api/v1/docs`: Swagger UI (try the operations out with a token);
- `GET /api/v1/redoc`: ReDoc (a reading view of the same document);
- `GET /api/v1/docs/assets/{name}`: the fixed set of files below, nothing else.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from podium_api.errors import NotFound

_VENDOR = Path(fastapi_offline.__file__).parent / "static"
_OWN = Path(str(files("podium_api") / "docs_assets"))

# The only files the assets route serves: name -> (path, media type). A fixed table, so a name
# in the URL never becomes a path on disk.
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": (_VENDOR / "redoc.standalone.js", "text/javascript"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
    "swagger-init.js": (_OWN / "swagger-init.js", "text/javascript"),
}
# The assets change only with the package version; a day is short enough to pick up an upgrade.
ASSET_CACHE = "public, max-age=86400"
# ReDoc's sidebar shows its maker's logo from their CDN: the bundle is served with that one URL
# pointing at a local image instead (the only outside request either page makes).
REDOC_LOGO = b'"https://cdn.redoc.ly/redoc/logo-mini.svg"'


def _page(title: str, head: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{{prefix}}/docs/assets/favicon.png">
{head}
</head>
<body>
{body}
</body>
</html>
"""


_SWAGGER = _page(
    "Podium API",
    '<link rel="stylesheet" href="{prefix}/docs/assets/swagger-ui.css">',
    '<div id="swagger-ui" data-spec-url="{prefix}/openapi.json"></div>\n'
    '<script src="{prefix}/docs/assets/swagger-ui-bundle.js"></script>\n'
    '<script src="{prefix}/docs/assets/swagger-init.js"></script>',
)
_REDOC = _page(
    "Podium API (ReDoc)",
    "<style>body { margin: 0; }</style>",
    '<redoc spec-url="{prefix}/openapi.json"></redoc>\n'
    '<script src="{prefix}/docs/assets/redoc.standalone.js"></script>',
)


def install(app: FastAPI, prefix: str) -> None:
    """Add the two documentation pages and their assets under `prefix` (outside the OpenAPI document)."""
    swagger = _SWAGGER.replace("{prefix}", prefix)
    redoc = _REDOC.replace("{prefix}", prefix)
    redoc_bundle = (
        ASSETS["redoc.standalone.js"][0]
        .read_bytes()
        .replace(REDOC_LOGO, f'"{prefix}/docs/assets/favicon.png"'.encode())
    )

    @app.get(f"{prefix}/docs", include_in_schema=False)
    async def swagger_page() -> HTMLResponse:
        return HTMLResponse(swagger)

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    async def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc)

    @app.get(f"{prefix}/docs/assets/{{name}}", include_in_schema=False)
    async def asset(name: str) -> Response:
        found = ASSETS.get(name)
        if found is None:
            raise NotFound("no such documentation asset")
        path, media_type = found
        if name == "redoc.standalone.js":
            return Response(redoc_bundle, media_type=media_type, headers={"Cache-Control": ASSET_CACHE})
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": ASSET_CACHE})
