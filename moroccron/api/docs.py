"""``/docs`` (Swagger UI) and ``/redoc``, from files installed with the package.

FastAPI's own pages load Swagger UI and Redoc from a CDN: a blank page on a network
without Internet access, and third-party script running on the origin of the UI's
session cookie. Here the same pages are served from the ``fastapi-offline``
distribution (a runtime dependency that ships the Swagger UI and Redoc bundles, MIT;
Swagger UI itself is Apache-2.0, Redoc MIT) under ``/docs/assets/``, and the pages
have no inline script, so the Content-Security-Policy can allow scripts from this
origin only.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install"]

ASSETS = "/docs/assets"

_SWAGGER = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>moroccron API</title>
<link rel="icon" href="{ASSETS}/favicon.png">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/moroccron-swagger.js"></script>
</body>
</html>
"""

# Started from a file rather than an inline script: the page's CSP allows no inline script.
_SWAGGER_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""

_REDOC = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>moroccron API</title>
<link rel="icon" href="{ASSETS}/favicon.png">
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS}/redoc.standalone.js"></script>
</body>
</html>
"""


def assets_dir() -> Path:
    return Path(str(importlib.resources.files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """Serve /docs and /redoc; the app must be made with ``docs_url=None, redoc_url=None``."""

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_SWAGGER)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC)

    @app.get(f"{ASSETS}/moroccron-swagger.js", include_in_schema=False)
    def swagger_init() -> Response:
        return Response(_SWAGGER_INIT, media_type="text/javascript")

    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
