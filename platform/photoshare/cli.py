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

    @app.cli.command("init-db")
    def init_db_command():
        """Create the MongoDB indexes (also done at every start-up)."""
        from . import repositories
        repositories.ensure_indexes(get_db())
        click.echo("Indexes are in place.")
