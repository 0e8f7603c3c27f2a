"""`/healthz`, `/readyz` and `/metrics`: for the orchestrator and Prometheus, no sign-in, nothing
personal (docs/operations.md)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from arrears.bootstrap import App
from arrears.observability import health, metrics
from arrears.services.nightly import last_night
from arrears.services.schema import schema_problem


def mount_probes(api: FastAPI, app: App) -> None:
    """The probes and the metrics of `app`, and the latency of every request."""
    registry = metrics.app_registry(app.engine)

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "up"})

    @api.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        ready = health.readiness(
            app.engine,
            schema_problem=schema_problem,
            load_keyring=lambda: app.keyring,
            last_night=lambda: health.night_check(
                last_night(app.engine), health.logged_run(app.engine)
            ),
        )
        return JSONResponse(ready.as_dict(), status_code=ready.status_code)

    @api.get("/metrics", include_in_schema=False)
    def metrics_page() -> Response:
        return Response(metrics.exposition(registry), media_type=metrics.CONTENT_TYPE)

    api.middleware("http")(metrics.time_request)
