"""/account/export: download all your photos with their captions, albums and dates.

The archive is built in the background (services.export); the page shows its progress
(and polls /account/export/status) and then a download link that expires.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, send_file, url_for
from flask_login import current_user, login_required

from ..extensions import get_db, get_queue
from ..forms import ConfirmForm
from ..services import export

bp = Blueprint("account_export", __name__, url_prefix="/account/export")


@bp.get("")
@login_required
def index():
    current = export.export_view(export.latest(get_db(), current_user.id))
    return render_template("account/export.html", export=current, form=ConfirmForm(),
                           ttl_hours=current_app.config["EXPORT_TTL_HOURS"])


@bp.post("")
@login_required
def start():
    if ConfirmForm().validate_on_submit():
        export.request_export(get_db(), get_queue(), current_app.config, current_user.id)
    return redirect(url_for("account_export.index"), 303)


@bp.get("/status")
@login_required
def status():
    response = jsonify(export.export_view(export.latest(get_db(), current_user.id)))
    response.cache_control.no_store = True
    return response


@bp.get("/<oid:export_id>/download")
@login_required
def download(export_id):
    path, record = export.open_download(get_db(), current_app.config, current_user.id, export_id)
    date = record["created_at"].strftime("%Y-%m-%d")
    response = send_file(path, mimetype="application/zip", as_attachment=True,
                         download_name=f"photoshare-export-{date}.zip", conditional=True)
    response.headers["Cache-Control"] = "private, no-store"
    return response
