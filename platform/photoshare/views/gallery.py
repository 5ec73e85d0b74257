"""Photos and albums: the dashboard (upload form and all-photos grid), photo pages,
image files, live caption status, albums.

Views only translate HTTP to service calls; the rules (validation, ownership: another
user's photo or album is a 404) are in photoshare.services.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..errors import error_response, wants_json
from ..extensions import get_db, get_queue, limiter, limiter_key
from ..forms import (AddToAlbumForm, AlbumForm, CaptionForm, ConfirmForm, UploadForm, VisibilityForm,
                     show_service_error)
from ..image_responses import image_response
from ..safe_urls import local_redirect_target
from ..services import albums as album_service
from ..services import bulk as bulk_service
from ..services import captions as caption_service
from ..services import photos as photo_service
from ..services.errors import ServiceError
from ..services.pagination import clamp_page, encode_cursor
from ..services.photo_mapper import captioning, display_caption, status_view, upright_size
from ..services.visibility import PUBLIC, VISIBILITIES, visibility_of
from . import upload_answers

bp = Blueprint("gallery", __name__)

VISIBILITY_MESSAGES = {
    "private": "The photo is private: only you can see it, and its share links are off.",
    "unlisted": "The photo is unlisted: anyone with one of its share links can see it.",
    "public": "The photo is public: it is on your profile and on Explore.",
}


@bp.app_template_global()
def caption_of(photo: dict) -> str:
    return display_caption(photo)


@bp.app_template_global()
def caption_placeholder(photo: dict) -> str:
    # Shown until there is a caption; app.js replaces it when the caption arrives.
    return "Captioning…" if captioning(photo) else "No caption."


@bp.app_template_global()
def alt_text(photo: dict) -> str:
    # The caption is the alt text; until there is one, say what the image is.
    return display_caption(photo) or f"Photo {photo.get('filename', '')} (caption pending)"


@bp.app_template_global()
def size_of(photo: dict) -> tuple:
    """(width, height) as the photo is shown: upright."""
    return upright_size(photo)


@bp.app_template_global()
def is_public(photo: dict) -> bool:
    return visibility_of(photo) == PUBLIC


@bp.app_template_global()
def caption_choices(photo: dict) -> list[str]:
    """The beam alternatives worth offering: each once, never the caption shown now."""
    shown = display_caption(photo)
    choices = [a.get("caption") for a in photo.get("alternatives") or []]
    return [c for c in dict.fromkeys(choices) if c and c != shown]


def _page_arg() -> int:
    return clamp_page(request.args.get("page", 1, type=int))


def _more_url(items: list[dict], has_next: bool, **filters) -> str | None:
    """Where the grid's infinite scroll reads the tiles after these: by cursor (the _id of
    the last one), never by offset, so page 400 of a 10,000-photo library is as quick as page 2."""
    if not (has_next and items):
        return None
    return url_for("gallery.grid_page", cursor=encode_cursor(items[-1]),
                   **{key: value for key, value in filters.items() if value})


def _redirect_back(default: str):
    # Forms post back to the page they were on (same-site paths only).
    return redirect(local_redirect_target(request.form.get("next"), default), 303)


# -- Dashboard and upload ---------------------------------------------------------

def render_dashboard(upload_errors: list[str] | None = None, status: int = 200):
    search = request.args.get("q", "").strip()
    page = photo_service.list_photos(get_db(), current_user.id, page=_page_arg(),
                                     per_page=current_app.config["PHOTOS_PER_PAGE"], search=search)
    albums = album_service.list_albums(get_db(), current_user.id, with_counts=False)
    return render_template("gallery/dashboard.html", page=page, search=search, form=UploadForm(),
                           upload_errors=upload_errors or [], albums=albums, confirm_form=ConfirmForm(),
                           more_url=_more_url(page.items, page.has_next, q=search),
                           bulk_limit=bulk_service.MAX_SELECTED), status


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return render_template("gallery/welcome.html")
    return render_dashboard()


def _upload_key() -> str:
    return limiter_key("upload", current_user.id)


@bp.post("/upload")
@login_required  # an anonymous upload is refused earlier, before its body is read (request_limits)
@limiter.limit(lambda: current_app.config["UPLOAD_LIMIT_PER_ACCOUNT"], key_func=_upload_key,
               error_message="Too many uploads in a short time. Wait a few minutes before uploading more.")
def upload():
    """The upload form, and its JSON mode for the dashboard's script (views.upload_answers)."""
    # Only file parts: the same name sent as a text field is not a file (and has no name).
    files = [f for f in request.files.getlist("images") if f.filename]
    uploads = [photo_service.Upload(f.filename, f.stream) for f in files]
    try:
        outcome = photo_service.add_photos(get_db(), get_queue(), current_user.id, uploads,
                                           current_app.config,
                                           keep_both=upload_answers.is_true(request.form.get("keep_both")))
    except ServiceError as error:
        if wants_json():
            return error_response(error.http_status, error.code, error.message)
        return render_dashboard([error.message], error.http_status)
    if wants_json():
        return upload_answers.json_answer(outcome)
    if not outcome.photos:
        return render_dashboard([rejected.message for rejected in outcome.rejected],
                                upload_answers.refusal_status(outcome))
    count = len(outcome.photos)
    flash(f"Uploaded {count} photo{'s' if count > 1 else ''}. Captions appear here in a moment.", "success")
    for rejected in outcome.rejected:
        flash(f"Not uploaded: {rejected.message}", "error")
    if not outcome.queued:
        flash("Captioning is delayed: the job queue is unavailable. It will run once the queue is back.",
              "warning")
    return redirect(url_for("gallery.index"), 303)


# -- One photo --------------------------------------------------------------------

@bp.get("/photos/<oid:photo_id>")
@login_required
def photo(photo_id, visibility_form: VisibilityForm | None = None, status: int = 200):
    db = get_db()
    photo = photo_service.get_photo(db, current_user.id, photo_id)
    if visibility_form is None:
        visibility_form = VisibilityForm(visibility=visibility_of(photo))
    elif visibility_form.visibility.data not in VISIBILITIES:
        visibility_form.visibility.data = visibility_of(photo)  # refused: show what is stored
    all_albums = album_service.list_albums(db, current_user.id, with_counts=False)
    in_albums = album_service.albums_of_photo(db, current_user.id, photo)
    member = {album["_id"] for album in in_albums}
    add_form = AddToAlbumForm()
    add_form.album_id.choices = [(str(a["_id"]), a["name"]) for a in all_albums if a["_id"] not in member]
    return render_template(
        "gallery/photo.html", photo=photo, in_albums=in_albums, add_form=add_form,
        attention=caption_service.attention_maps(db, photo),
        caption_form=CaptionForm(caption=photo.get("user_caption") or ""), confirm_form=ConfirmForm(),
        visibility_form=visibility_form,
    ), status


@bp.get("/photos/grid")
@login_required
def grid_page():
    """The next tiles of the dashboard's or an album's grid after a cursor: an HTML fragment
    for the infinite scroll (static/js/grid.js), with the address of the tiles after it."""
    db = get_db()
    album_id, search = request.args.get("album") or None, request.args.get("q", "").strip() or None
    if album_id:
        album_id = album_service.get_album(db, current_user.id, album_id)["_id"]  # another user's: 404
    page = photo_service.feed(db, current_user.id, limit=current_app.config["PHOTOS_PER_PAGE"],
                              cursor=request.args.get("cursor") or None, album_id=album_id, search=search)
    return render_template("gallery/_grid_page.html", photos=page.items,
                           more_url=_more_url(page.items, bool(page.next_cursor), album=album_id, q=search))


@bp.get("/photos/<oid:photo_id>/status")
@login_required
def photo_status(photo_id):
    response = jsonify(status_view(photo_service.caption_status(get_db(), current_user.id, photo_id)))
    response.cache_control.no_store = True
    return response


@bp.get("/photos/<oid:photo_id>/image/<any(thumbnail, display, original):variant>")
@login_required
def photo_image(photo_id, variant):
    return image_response(photo_service.open_image(get_db(), current_user.id, photo_id, variant))


@bp.post("/photos/<oid:photo_id>/caption")
@login_required
def edit_caption(photo_id):
    form = CaptionForm()  # CSRF is checked by CSRFProtect; the service checks the text
    if wants_json():  # inline editing on the photo page (photo.js); a plain form post gets a redirect
        # A refused caption raises: errors.error_response answers it (flat JSON, FLAT_JSON_ENDPOINTS).
        updated = photo_service.update_photo(get_db(), current_user.id, photo_id, caption=form.caption.data)
        return jsonify({key: status_view(updated)[key] for key in ("caption", "ai_caption", "user_caption")})
    photo_service.update_photo(get_db(), current_user.id, photo_id, caption=form.caption.data)
    flash("Caption saved." if form.caption.data and form.caption.data.strip() else "Back to the AI caption.",
          "success")
    return redirect(url_for("gallery.photo", photo_id=photo_id), 303)


@bp.post("/photos/<oid:photo_id>/visibility")
@login_required
def set_visibility(photo_id):
    form = VisibilityForm()  # CSRF is checked by CSRFProtect; the service checks the value
    try:
        updated = photo_service.update_photo(get_db(), current_user.id, photo_id,
                                             visibility=form.visibility.data)
    except ServiceError as error:
        if error.http_status == 404:
            raise
        show_service_error(form, error)
        return photo(photo_id, visibility_form=form, status=400)
    flash(VISIBILITY_MESSAGES[visibility_of(updated)], "success")
    return redirect(url_for("gallery.photo", photo_id=photo_id), 303)


@bp.post("/photos/<oid:photo_id>/recaption")
@login_required
def recaption(photo_id):
    caption_request = caption_service.recaption_photo(get_db(), get_queue(), current_user.id, photo_id,
                                               current_app.config)
    if caption_request.queued:
        flash("A new caption is on its way.", "info")
    else:
        flash("The job queue is unavailable; the photo will be captioned when it is back.", "warning")
    return _redirect_back(url_for("gallery.photo", photo_id=photo_id))


@bp.post("/photos/<oid:photo_id>/delete")
@login_required
def delete_photo(photo_id):
    photo_service.delete_photo(get_db(), current_user.id, photo_id)
    flash("Photo deleted.", "info")
    return redirect(url_for("gallery.index"), 303)


BULK_DONE = {"album": "Added {n} photo{s} to the album.", "visibility": "Changed who can see {n} photo{s}.",
             "delete": "Deleted {n} photo{s}."}


@bp.post("/photos/bulk")
@login_required
def bulk():
    """The dashboard's select mode: one action on the selected photos (CSRFProtect checks the token)."""
    back = local_redirect_target(request.form.get("next"), url_for("gallery.index"))
    try:
        result = bulk_service.apply(get_db(), current_user.id, request.form.get("action", ""),
                                    request.form.getlist("photo_ids"), album_id=request.form.get("album_id") or None,
                                    visibility=request.form.get("visibility"))
    except ServiceError as error:
        if error.http_status == 404:
            raise
        flash(error.message, "error")
        return redirect(back, 303)
    flash(BULK_DONE[result.action].format(n=result.changed, s="" if result.changed == 1 else "s"), "success")
    if result.skipped:
        flash(f"{result.skipped} of the selected photos were skipped (deleted meanwhile, or already in "
              "too many albums).", "warning")
    return redirect(back, 303)


@bp.post("/photos/<oid:photo_id>/albums")
@login_required
def add_to_album(photo_id):
    album_id = request.form.get("album_id", "")
    album_service.add_photo_to_album(get_db(), current_user.id, photo_id, album_id)
    flash("Added to the album.", "success")
    return redirect(url_for("gallery.photo", photo_id=photo_id), 303)


@bp.post("/photos/<oid:photo_id>/albums/<oid:album_id>/remove")
@login_required
def remove_from_album(photo_id, album_id):
    album_service.remove_photo_from_album(get_db(), current_user.id, photo_id, album_id)
    flash("Removed from the album.", "info")
    return _redirect_back(url_for("gallery.photo", photo_id=photo_id))


# -- Albums -----------------------------------------------------------------------

@bp.get("/albums")
@login_required
def albums():
    return render_template("gallery/albums.html", form=AlbumForm(),
                           albums=album_service.list_albums(get_db(), current_user.id))


@bp.post("/albums")
@login_required
def create_album():
    form = AlbumForm()
    if form.validate_on_submit():
        try:
            album = album_service.create_album(get_db(), current_user.id, form.name.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(f"Album “{album['name']}” created.", "success")
            return redirect(url_for("gallery.album", album_id=album["_id"]), 303)
    return render_template("gallery/albums.html", form=form,
                           albums=album_service.list_albums(get_db(), current_user.id)), 400


@bp.get("/albums/<oid:album_id>")
@login_required
def album(album_id, rename_form: AlbumForm | None = None, status: int = 200):
    db = get_db()
    album = album_service.get_album(db, current_user.id, album_id)
    page = photo_service.list_photos(db, current_user.id, page=_page_arg(), album_id=album["_id"],
                                     per_page=current_app.config["PHOTOS_PER_PAGE"])
    return render_template("gallery/album.html", album=album, page=page,
                           more_url=_more_url(page.items, page.has_next, album=album["_id"]),
                           rename_form=rename_form or AlbumForm(name=album["name"]),
                           confirm_form=ConfirmForm()), status


@bp.post("/albums/<oid:album_id>/rename")
@login_required
def rename_album(album_id):
    form = AlbumForm()
    if form.validate_on_submit():
        try:
            album_service.rename_album(get_db(), current_user.id, album_id, form.name.data)
        except ServiceError as error:
            if error.http_status == 404:
                raise
            show_service_error(form, error)
        else:
            flash("Album renamed.", "success")
            return redirect(url_for("gallery.album", album_id=album_id), 303)
    return album(album_id, rename_form=form, status=400)


@bp.post("/albums/<oid:album_id>/delete")
@login_required
def delete_album(album_id):
    album_service.delete_album(get_db(), current_user.id, album_id)
    flash("Album deleted; its photos are still in your library.", "info")
    return redirect(url_for("gallery.albums"), 303)
