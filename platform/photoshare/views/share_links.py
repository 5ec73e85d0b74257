"""The owner's share links: make one (photo or album page), see them all with their view
counts ("Shared links", /shares), revoke one. The rules are in services.shares.

A new link's address is shown once, on the page that answers its creation: only a hash
of its token is stored, so it cannot be shown again (like an API key).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..errors import wants_json
from ..extensions import get_db
from ..forms import ConfirmForm, ShareLinkForm, SharedDetailsForm, VisibilityForm
from ..safe_urls import local_redirect_target
from ..services import albums as album_service
from ..services import photos as photo_service
from ..services import shares
from ..services.errors import NotFound, ServiceError
from ..services.visibility import visibility_of

bp = Blueprint("share_links", __name__)


@bp.app_template_global()
def share_link_form(photo_id=None, album_id=None) -> ShareLinkForm:
    """The share dialog's form on the photo and album pages."""
    return ShareLinkForm(photo_id=str(photo_id or ""), album_id=str(album_id or ""))


@bp.app_template_global()
def share_links_of(target_id) -> list[dict]:
    """The owner's links to one photo or album, for its page (views, state)."""
    return [shares.share_view(link) for link in shares.list_shares(get_db(), current_user.id, target_id)]


def _target_names(db, links: list[dict]) -> dict:
    """A label for each link's photo or album (the owner's own objects only)."""
    names = {}
    for link in links:
        try:
            if link["target"] == shares.PHOTO:
                photo = photo_service.get_photo(db, current_user.id, link["photo_id"],
                                                projection={"filename": 1, "user_caption": 1, "ai_caption": 1})
                names[link["id"]] = photo.get("user_caption") or photo.get("ai_caption") or photo["filename"]
            else:
                names[link["id"]] = album_service.get_album(db, current_user.id, link["album_id"])["name"]
        except NotFound:
            names[link["id"]] = None  # deleted since: the link no longer opens anything
    return names


@bp.get("/shares")
@login_required
def index():
    db = get_db()
    links = [shares.share_view(link) for link in shares.list_shares(db, current_user.id)]
    return render_template("sharing/links.html", links=links, names=_target_names(db, links),
                           confirm_form=ConfirmForm())


@bp.post("/shares")
@login_required
def create():
    form = ShareLinkForm()  # CSRF is checked by CSRFProtect; the service checks the values
    back = local_redirect_target(request.form.get("next"), url_for("share_links.index"))
    try:
        new = shares.create_share(
            get_db(), current_user.id, photo_id=form.photo_id.data or None, album_id=form.album_id.data or None,
            expires_in_days=request.form.get("expires_in_days") or None, password=form.password.data or None,
            allow_download=form.allow_download.data, rounds=current_app.config["BCRYPT_ROUNDS"])
    except ServiceError as error:
        if error.http_status == 404 or wants_json():
            # JSON: the share dialog's script shows the message beside the form (errors.error_response,
            # flat for FLAT_JSON_ENDPOINTS).
            raise
        flash(f"No link was made: {error.message}", "error")
        return redirect(back, 303)
    url = url_for("sharing.shared", token=new.token, _external=True)
    if wants_json():  # the share dialog shows the address (once) with a copy button
        return jsonify({"url": url, "link": shares.share_view(new.link)}), 201
    return render_template("sharing/created.html", url=url, link=shares.share_view(new.link), back=back)


@bp.post("/shares/<oid:share_id>/revoke")
@login_required
def revoke(share_id):
    shares.revoke_share(get_db(), current_user.id, share_id)
    flash("The link is revoked: it no longer opens anything.", "info")
    return redirect(local_redirect_target(request.form.get("next"), url_for("share_links.index")), 303)


# -- What shared pages show of a photo; who sees an album ---------------------------------

@bp.app_template_global()
def shared_details_form(photo: dict) -> SharedDetailsForm:
    return SharedDetailsForm(show_camera=bool(photo.get("show_camera")),
                             show_date_taken=bool(photo.get("show_date_taken")))


@bp.post("/photos/<oid:photo_id>/shared-details")
@login_required
def shared_details(photo_id):
    form = SharedDetailsForm()  # CSRF is checked by CSRFProtect
    photo_service.update_photo(get_db(), current_user.id, photo_id, show_camera=form.show_camera.data,
                               show_date_taken=form.show_date_taken.data)
    flash("Saved what shared pages show.", "success")
    return redirect(url_for("gallery.photo", photo_id=photo_id), 303)


@bp.app_template_global()
def album_visibility_form(album: dict) -> VisibilityForm:
    form = VisibilityForm(visibility=visibility_of(album))
    form.visibility.label.text = "Who can see this album"
    return form


@bp.post("/albums/<oid:album_id>/visibility")
@login_required
def album_visibility(album_id):
    form = VisibilityForm()
    try:
        album = album_service.set_album_visibility(get_db(), current_user.id, album_id, form.visibility.data)
    except ServiceError as error:
        if error.http_status == 404:
            raise
        flash(error.message, "error")
    else:
        flash(f"The album is {visibility_of(album)}.", "success")
    return redirect(url_for("gallery.album", album_id=album_id), 303)
