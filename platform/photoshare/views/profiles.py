"""Public pages, for anyone (no login): /explore, profiles /u/<handle>, public photos
/p/<id> and public albums /a/<id>, with their images; and the account's handle.

Only what is public is here (services.discovery, services.sharing): a private or
unlisted photo is the same 404 as a missing one. These pages may be indexed (unlike
share links) and carry Open Graph / Twitter card tags.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..extensions import get_db
from ..forms import HandleForm
from ..image_responses import image_response
from ..services import accounts, discovery, sharing
from ..services.errors import ServiceError
from ..services.photos import open_stored_image

bp = Blueprint("profiles", __name__)

PUBLIC_IMAGE_MAX_AGE = 5 * 60  # made private again: caches let go within minutes


def _page_arg() -> int:
    return request.args.get("page", 1, type=int)


@bp.get("/explore")
def explore():
    search = request.args.get("q", "").strip()[:100]
    page = discovery.explore(get_db(), search, _page_arg())
    return render_template("discover/explore.html", page=page, search=search)


@bp.get("/u/<handle>")
def profile(handle):
    found = discovery.profile(get_db(), handle, _page_arg())
    return render_template("discover/profile.html", profile=found, page=found.photos)


@bp.get("/p/<photo_id>")
def photo(photo_id):
    shared, owner = discovery.public_photo(get_db(), photo_id)
    return render_template("discover/photo.html", shared=shared, owner=owner)


@bp.get("/p/<photo_id>/image/<variant>")
def photo_image(photo_id, variant):
    return image_response(sharing.open_public_image(get_db(), photo_id, variant), max_age=PUBLIC_IMAGE_MAX_AGE,
                          public=True)


@bp.get("/a/<album_id>")
def album(album_id):
    found, owner, page = discovery.public_album(get_db(), album_id, _page_arg())
    return render_template("discover/album.html", album=found, owner=owner, page=page)


@bp.get("/a/<album_id>/photos/<photo_id>/image/<any(thumbnail, display):variant>")
def album_photo_image(album_id, photo_id, variant):
    db = get_db()
    photo = discovery.public_album_photo(db, album_id, photo_id)
    return image_response(open_stored_image(db, photo, variant), max_age=PUBLIC_IMAGE_MAX_AGE, public=True)


# -- The account's public handle -------------------------------------------------------

@bp.app_template_global()
def handle_form() -> HandleForm:
    return HandleForm(handle=current_user.doc.get("handle") or "")


@bp.post("/account/handle")
@login_required
def set_handle():
    form = HandleForm()  # CSRF is checked by CSRFProtect; the service checks the handle
    try:
        handle = accounts.set_handle(get_db(), current_user.id, form.handle.data)
    except ServiceError as error:
        if error.http_status == 404:
            raise
        flash(error.message, "error")
    else:
        flash(f"Your public profile is /u/{handle}.", "success")
    return redirect(url_for("auth.account"), 303)
