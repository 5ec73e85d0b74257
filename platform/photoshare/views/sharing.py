"""Public share pages: /s/<photo_id> and its images, for anyone with the link (no login).

The rules (public photos only, never the original, never the owner's e-mail) are in
services.sharing. Photo ids are plain strings here, not `<oid:...>`: a malformed id then
gets the very same 404 page as a missing or private photo.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from ..extensions import get_db
from ..image_responses import image_response
from ..services import sharing

bp = Blueprint("sharing", __name__, url_prefix="/s")

# Unlike the owner's private images (cached for a week), a shared image can be unshared
# at any moment: browsers and shared caches keep it only briefly and then revalidate
# (a cheap 304 while it is still public, a 404 once it is private again).
SHARED_IMAGE_MAX_AGE = 5 * 60

# Share links are unlisted: search engines should neither index nor follow them.
NO_INDEX = {"X-Robots-Tag": "noindex, nofollow"}


@bp.get("/<photo_id>")
def photo(photo_id):
    shared = sharing.shared_photo(get_db(), photo_id)
    return render_template("sharing/photo.html", shared=shared), 200, NO_INDEX


@bp.get("/<photo_id>/image/<variant>")
def photo_image(photo_id, variant):
    return image_response(sharing.open_public_image(get_db(), photo_id, variant),
                          max_age=SHARED_IMAGE_MAX_AGE, public=True, headers=NO_INDEX)
