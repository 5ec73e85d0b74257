"""Public share pages: /s/<photo_id> and its images, for anyone with the link (no login).

The rules (public photos only, never the original, never the owner's e-mail) are in
services.sharing. Photo ids are plain strings here, not `<oid:...>`: a malformed id then
gets the very same 404 page as a missing or private photo.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from ..extensions import get_db
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
    image = sharing.open_public_image(get_db(), photo_id, variant)
    response = current_app.response_class(image.stream, mimetype=image.mime_type, direct_passthrough=True)
    response.content_length = image.length
    response.headers.update(NO_INDEX)
    response.set_etag(str(image.file_id))
    response.cache_control.public = True
    response.cache_control.max_age = SHARED_IMAGE_MAX_AGE
    if image.uploaded_at:
        response.last_modified = image.uploaded_at
    return response.make_conditional(request)
