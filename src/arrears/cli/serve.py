"""`arrears serve`: the web application and the HTTP API on the configured database."""

from __future__ import annotations

import threading

import typer

from arrears.bootstrap import App
from arrears.cli import app_of


def register(app: typer.Typer) -> None:
    _register_webhooks(app)

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port to listen on."),
        secure_cookies: bool = typer.Option(
            False, "--secure-cookies", help="Mark cookies Secure (behind TLS)."
        ),
        demo_users: bool = typer.Option(
            False, "--demo-users", help="Create the demo users of every role first."
        ),
        nightly_at: str = typer.Option(
            None,
            "--nightly-at",
            help="Also run `arrears nightly` every day at HH:MM, the lender's time zone "
            "(a single-box install; docs/operations.md).",
        ),
    ) -> None:
        """Serve the workbench, dashboards, borrower page and /api/v1 (OpenAPI at /api/v1/docs);
        /healthz, /readyz and /metrics for the orchestrator and Prometheus.

        Examples:

          arrears serve --port 8000

          arrears --database postgresql://arrears@db/arrears serve --host 0.0.0.0 --secure-cookies
        """
        if nightly_at:
            from arrears.cli.nightly import parse_time_of_day, start_scheduler

            start_scheduler(app_of(ctx), parse_time_of_day(nightly_at), threading.Event())
            typer.echo(f"the nightly run starts every day at {nightly_at}")
        serve_app(
            app_of(ctx), host=host, port=port, demo_users=demo_users, secure_cookies=secure_cookies
        )


def serve_app(
    wired: App,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    demo_users: bool = False,
    secure_cookies: bool = False,
) -> None:
    """Migrate, optionally create the demo users, and serve the web application and the API."""
    import uvicorn

    from arrears.services.schema import upgrade_schema
    from arrears.services.users import DEMO_PASSWORD, seed_demo_users
    from arrears.web.app import create_app

    upgrade_schema(wired.engine)
    _ = wired.keyring  # a missing or different key ring stops the start, with the reason
    if demo_users:
        with wired.engine.begin() as conn:
            names = seed_demo_users(conn)
        typer.echo(f"demo users {', '.join(names)} — password {DEMO_PASSWORD!r} (docs/web.md)")
    web = create_app(wired, cookie_secure=True if secure_cookies else None)
    typer.echo(f"arrears on http://{host}:{port}/  (API docs: /api/v1/docs)")
    uvicorn.run(web, host=host, port=port, log_level="warning")


def _register_webhooks(app: typer.Typer) -> None:
    hooks = typer.Typer(help="Outbound webhooks (signed event deliveries).", no_args_is_help=True)
    app.add_typer(hooks, name="webhooks")

    @hooks.command("deliver")
    def deliver(
        ctx: typer.Context,
        as_of: str = typer.Option(..., "--as-of", help="Business date whose events to collect."),
    ) -> None:
        """Collect the day's events and POST pending deliveries to their subscribers."""
        from datetime import UTC, date, datetime

        import httpx

        from arrears.services.webhooks import collect_events
        from arrears.services.webhooks import deliver as send

        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            found = collect_events(conn, date.fromisoformat(as_of))
        with httpx.Client() as client:
            report = send(
                wired.engine,
                wired.keyring,
                datetime.now(UTC),
                client,
                allow_private=wired.settings.webhook_allow_private,
            )
        typer.echo(
            f"{found} new events; delivered {report.delivered}, retrying {report.retried}, "
            f"failed {report.failed}"
        )
