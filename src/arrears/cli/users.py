"""`arrears users …` and `arrears tokens …`: people who sign in, and integration tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from sqlalchemy import Connection

from arrears.cli import app_of
from arrears.privacy import audit
from arrears.services import auth, users

BY_HELP = "Who does it (recorded in the audit log)."
USER = audit.AuditKind.USER.value


def _audit(
    ctx: typer.Context, conn: Connection, by: str, kind: str, subject: str, **detail: object
) -> None:
    audit.append(
        conn,
        app_of(ctx).keyring,
        actor=by,
        kind=kind,
        subject=subject,
        detail=detail,
        at=datetime.now(UTC),
    )


def register(app: typer.Typer) -> None:
    cmd = typer.Typer(help="Users and roles of the web application.", no_args_is_help=True)
    app.add_typer(cmd, name="users")

    @cmd.command("add")
    def add(
        ctx: typer.Context,
        username: str,
        role: str = typer.Option(
            ..., help="admin | agent | team_lead | manager | compliance | integration"
        ),
        team: str = typer.Option(None, help="Team id (agents and team leads)."),
        name: str = typer.Option(None, help="Display name."),
        language: str = typer.Option("zh-CN", help="zh-CN or en."),
        max_instalments: int = typer.Option(2, help="Plan limit: instalments without approval."),
        password: str = typer.Option(
            ..., prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 chars."
        ),
        by: str = typer.Option("admin", "--by", help=BY_HELP),
    ) -> None:
        """Add a user who signs in with USERNAME."""
        try:
            with app_of(ctx).engine.begin() as conn:
                user = users.add_user(
                    conn,
                    username,
                    password,
                    role,
                    display_name=name,
                    team_id=team,
                    language=language,
                    plan_max_instalments=max_instalments,
                )
                _audit(
                    ctx, conn, by, USER, f"user:{username}", action="added", role=role, team=team
                )
        except (users.UserExists, users.RoleUnknown, users.PasswordTooWeak) as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"added {user.username} ({user.role})")

    @cmd.command("list")
    def list_(ctx: typer.Context) -> None:
        with app_of(ctx).engine.connect() as conn:
            for u in users.list_users(conn):
                state = "" if u.active else " (disabled)"
                typer.echo(f"{u.username}\t{u.role}\t{u.team_id or '-'}\t{u.display_name}{state}")

    @cmd.command("passwd")
    def passwd(
        ctx: typer.Context,
        username: str,
        password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
        by: str = typer.Option("admin", "--by", help=BY_HELP),
    ) -> None:
        with app_of(ctx).engine.begin() as conn:
            users.set_password(conn, username, password)
            _audit(ctx, conn, by, USER, f"user:{username}", action="password_changed")
        typer.echo(f"password of {username} changed")

    @cmd.command("disable")
    def disable(
        ctx: typer.Context, username: str, by: str = typer.Option("admin", "--by", help=BY_HELP)
    ) -> None:
        with app_of(ctx).engine.begin() as conn:
            users.set_active(conn, username, False)
            _audit(ctx, conn, by, USER, f"user:{username}", action="disabled")
        typer.echo(f"{username} can no longer sign in")

    @cmd.command("team")
    def team(
        ctx: typer.Context,
        team_id: str,
        name: str = typer.Option(..., help="Team name."),
        queue: list[str] = typer.Option(..., help="Work queue the team works (repeatable)."),
    ) -> None:
        """Create a team (or add queues to it)."""
        with app_of(ctx).engine.begin() as conn:
            users.add_team(conn, team_id, name, queue)
        typer.echo(f"team {team_id}: {', '.join(queue)}")

    @cmd.command("demo")
    def demo(ctx: typer.Context) -> None:
        """Create the demo teams and one user of every role (password: demo-password)."""
        with app_of(ctx).engine.begin() as conn:
            names = users.seed_demo_users(conn)
        typer.echo("demo users: " + ", ".join(names) + f" (password {users.DEMO_PASSWORD!r})")

    tokens = typer.Typer(help="Integration tokens for the HTTP API.", no_args_is_help=True)
    app.add_typer(tokens, name="tokens")

    @tokens.command("issue")
    def issue(
        ctx: typer.Context,
        name: str,
        scope: list[str] = typer.Option(
            None, help="Scope (repeatable); default all: " + " ".join(auth.Scope)
        ),
        days: int = typer.Option(
            auth.TOKEN_TTL.days, "--days", min=1, help="Days the token works (then 401)."
        ),
        by: str = typer.Option("admin", "--by", help=BY_HELP),
    ) -> None:
        """Issue a token; it is shown once and stored only as a hash. It expires after --days."""
        try:
            scopes = auth.parse_scopes(scope) if scope else auth.ALL_SCOPES
        except auth.ScopeUnknown as exc:
            raise typer.BadParameter(str(exc)) from None
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            secret = auth.issue_token(
                conn,
                name,
                scopes,
                datetime.now(UTC),
                timedelta(days=days),
                ring=wired.keyring,
                by=by,
            )
        typer.echo(secret)

    @tokens.command("revoke")
    def revoke(
        ctx: typer.Context, token_id: str, by: str = typer.Option("admin", "--by", help=BY_HELP)
    ) -> None:
        wired = app_of(ctx)
        with wired.engine.begin() as conn:
            done = auth.revoke_token(conn, token_id, datetime.now(UTC), ring=wired.keyring, by=by)
        typer.echo("revoked" if done else f"no active token {token_id}")
