"""``leadtrail users create|password|list``: dashboard logins."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from tracker.accounts import users
from tracker.cli.common import in_transaction
from tracker.models import User, UserSite

users_group = AppGroup("users", help="Dashboard users.")


@users_group.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="May open every site.")
@click.option("--site", "site_ids", type=int, multiple=True, help="A site id (repeatable).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given.",
)
def create(email: str, admin: bool, site_ids: tuple[int, ...], password: str) -> None:
    """Add a dashboard user with access to the given sites (or all, with --admin)."""
    with in_transaction() as session:
        user = users.create_user(session, email, password, is_admin=admin, site_ids=site_ids)
        address = user.email
    scope = "all sites" if admin else f"sites {', '.join(map(str, site_ids)) or '(none yet)'}"
    click.echo(f"user {address} created ({scope})")


@users_group.command("password")
@click.argument("email")
@click.option(
    "--password",
    prompt="New password",
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given.",
)
def change_password(email: str, password: str) -> None:
    """Set a user's password; every session they have open ends."""
    with in_transaction() as session:
        user = session.scalars(select(User).where(User.email == email.strip().lower())).first()
        if user is None:
            raise click.ClickException(f"no user {email}")
        users.set_password(session, user, password)
    click.echo(f"password of {email.strip().lower()} changed; their sessions ended")


@users_group.command("list")
def list_users() -> None:
    """List users with their role and granted site ids."""
    with in_transaction() as session:
        for user in session.scalars(select(User).order_by(User.id)):
            granted = session.scalars(
                select(UserSite.site_id)
                .where(UserSite.user_id == user.id)
                .order_by(UserSite.site_id)
            )
            role = "admin" if user.is_admin else ",".join(map(str, granted)) or "-"
            click.echo(f"{user.id}\t{user.email}\t{role}")
