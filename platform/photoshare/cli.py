"""Flask CLI commands (`flask --app photoshare <command>`)."""

from __future__ import annotations

import click
from flask import Flask

from .extensions import get_db, get_queue
from .services.reconciliation import reconcile


def init_app(app: Flask) -> None:
    @app.cli.command("reconcile-captions")
    @click.option("--min-age", type=float, default=None,
                  help="Leave photos younger than this many seconds alone (default RECONCILE_MIN_AGE).")
    def reconcile_captions_command(min_age):
        """Re-queue photos left pending or processing (lost jobs, Redis down at upload),
        and remove orphan files (see services.reconciliation)."""
        from flask import current_app
        report = reconcile(get_db(), get_queue(), current_app.config, min_age_s=min_age)
        click.echo(f"Caption reconciliation: {report}.")
        for photo_id in report.captions.requeued:
            click.echo(f"  re-queued {photo_id}")
        for photo_id in report.captions.gave_up:
            click.echo(f"  marked failed {photo_id}")

    @app.cli.command("migrate-media")
    @click.option("--limit", type=int, default=None, help="Move the files of at most this many photos.")
    def migrate_media_command(limit):
        """Move images kept in GridFS (stores from before the blob store) into the configured
        blob store (BLOB_STORE, MEDIA_ROOT): verified by checksum, resumable, no downtime."""
        from .services.media_migration import migrate_media

        def progress(report):
            if report.photos_seen % 100 == 0:
                click.echo(f"  {report}")

        report = migrate_media(get_db(), limit=limit, progress=progress)
        click.echo(f"Media migration: {report}.")
        for name in report.mismatches:
            click.echo(f"  checksum mismatch, left in GridFS: {name}")
        if report.mismatches:
            raise SystemExit(1)

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password", default=None, help="Only to create a new account (prompted when needed).")
    def create_admin_command(email, password):
        """Make the account EMAIL an administrator (creating it if there is none)."""
        from flask import current_app

        from .services import admin
        from .services.errors import ServiceError
        db = get_db()
        try:
            email = admin.accounts.validate_email(email)
            if password is None and admin.user_repo.find_by_email(db, email) is None:
                password = click.prompt("Password of the new account", hide_input=True, confirmation_prompt=True)
            user, created = admin.make_admin(db, email, password, rounds=current_app.config["BCRYPT_ROUNDS"])
        except ServiceError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"{user['email']} is {'a new account and ' if created else ''}an administrator.")

    @app.cli.command("recaption-outdated")
    @click.option("--model-version", default=None,
                  help="Target version (default: the one the live workers report).")
    def recaption_outdated_command(model_version):
        """Re-caption, in the background and a few at a time, photos captioned by another
        model version than the current one (users' own captions are kept)."""
        from flask import current_app

        from .extensions import get_redis
        from .services import system
        from .services.errors import ServiceError
        db = get_db()
        try:
            version = system.start_recaption_outdated(get_redis(), get_queue(), current_app.config, model_version)
        except ServiceError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"{system.outdated_count(db, version)} photos are captioned by another model than {version}; "
                   f"re-captioning them in the background, {current_app.config['RECAPTION_BATCH']} at a time.")

    @app.cli.command("backfill-search")
    def backfill_search_command():
        """Give photos stored before search tokens existed their tokens (services.search).
        Idempotent, and safe while the site runs."""
        from .services import search
        click.echo(f"Search tokens written for {search.backfill(get_db())} photos.")

    @app.cli.command("recount-storage")
    def recount_storage_command():
        """Set every account's storage counter (quotas) from its photos: for stores from
        before quotas. Run it while nobody uploads."""
        from .services import quota
        totals = quota.recount(get_db())
        click.echo(f"Storage recounted for {len(totals)} accounts, "
                   f"{quota.human_bytes(sum(totals.values()))} in all.")

    @app.cli.command("init-db")
    def init_db_command():
        """Create the MongoDB indexes (also done at every start-up)."""
        from . import repositories
        repositories.ensure_indexes(get_db())
        click.echo("Indexes are in place.")
