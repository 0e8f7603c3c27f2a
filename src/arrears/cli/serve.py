"""`arrears serve`: the web application and the HTTP API on the configured database."""

from __future__ import annotations

import typer

from arrears.cli import app_of


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port to listen on."),
        workers: int = typer.Option(1, help="Worker threads per process stay uvicorn's default."),
        secure_cookies: bool = typer.Option(
            False, "--secure-cookies", help="Mark cookies Secure (behind TLS)."
        ),
        demo_users: bool = typer.Option(
            False, "--demo-users", help="Create the demo users of every role first."
        ),
    ) -> None:
        """Serve the workbench, dashboards, borrower page and /api/v1 (OpenAPI at /api/v1/docs)."""
        import uvicorn

        from arrears.services.users import seed_demo_users
        from arrears.store import migrate
        from arrears.web.app import create_app

        wired = app_of(ctx)
        migrate.upgrade(wired.engine)
        if demo_users:
            with wired.engine.begin() as conn:
                seed_demo_users(conn)
            typer.echo("demo users ready (password: demo-password) — see docs/web.md")
        web = create_app(wired, cookie_secure=True if secure_cookies else None)
        typer.echo(f"arrears on http://{host}:{port}/  (API docs: /api/v1/docs)")
        uvicorn.run(web, host=host, port=port, log_level="warning", workers=1)
        del workers
