"""The HTTP API's interactive documentation, served from the package under the app's own
content security policy: Swagger UI's files are shipped in web/static/swagger-ui/ (no CDN), and
the page starts it with a script file of ours (no inline script)."""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

ASSETS = "/static/swagger-ui"


def mount_api_docs(api: FastAPI, docs_url: str, openapi_url: str) -> None:
    """GET `docs_url`: the Swagger UI page for the OpenAPI document at `openapi_url`."""
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(api.title)} · API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<script src="{ASSETS}/swagger-ui-bundle.js" defer></script>
<script src="/static/api-docs.js" defer></script>
</head>
<body>
<div id="swagger-ui" data-openapi="{escape(openapi_url)}"></div>
</body>
</html>
"""

    @api.get(docs_url, include_in_schema=False, response_class=HTMLResponse)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)
