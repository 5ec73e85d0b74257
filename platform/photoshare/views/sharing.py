"""Share links, for anyone who has one (no login): /s/<token>.

The rules (random tokens stored hashed, expiry, revocation, password, what is shown) are
in services.shares; this module turns them into pages and image answers:

    GET  /s/<token>                              the photo or album page (or only a password form)
    POST /s/<token>                              the password (CSRF-protected, wrong guesses throttled)
    GET  /s/<token>/image/<thumbnail|display>    the shared photo's images
    GET  /s/<token>/original                     the original without metadata, if the link allows it
    GET  /s/<token>/photos/<id>/image/<variant>  images of the photos of a shared album

Every failure is the same 404 page, and 404s are counted per client address: past
SHARE_NOT_FOUND_LIMIT, every /s/ request of that address is refused (429) for a while,
so tokens cannot be guessed by trying many. Pages are `noindex`, also as X-Robots-Tag.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, make_response, redirect, render_template, request, session, url_for

from ..errors import error_response
from ..extensions import get_db
from ..forms import SharePasswordForm
from ..image_responses import image_response
from ..services import shares
from ..services.errors import ServiceError
from ..throttling import take_attempt, take_attempts

bp = Blueprint("sharing", __name__, url_prefix="/s")

# A shared image can be withdrawn at any moment: caches keep it only briefly and then
# revalidate (a cheap 304 while it is still shared, a 404 once it is not).
SHARED_IMAGE_MAX_AGE = 5 * 60
NO_INDEX = {"X-Robots-Tag": "noindex, nofollow"}
DEFAULT_LIMITS = {
    "SHARE_NOT_FOUND_LIMIT": "30 per 10 minutes",
    "SHARE_PASSWORD_LIMIT_PER_ADDRESS": "10 per 15 minutes",
    "SHARE_PASSWORD_LIMIT_PER_LINK": "30 per hour",
}
UNLOCKED_KEY = "unlocked_shares"  # ids of the password links this browser has opened
MAX_UNLOCKED = 20


def _limit(name: str) -> str:
    return current_app.config.get(name) or DEFAULT_LIMITS[name]


# Counted atomically (throttling.py): each /s/ request takes an attempt before the link is
# looked up, and gives it back unless the answer is a 404; each password check takes one
# per address and per link, given back when the password is right. Parallel requests
# therefore cannot get more 404s or password guesses than the limits.
NOT_FOUND_THROTTLED = "Too many requests for links that do not exist. Wait a few minutes before trying again."
PASSWORD_THROTTLED_ADDRESS = "Too many wrong passwords from your address. Wait a few minutes before trying again."
PASSWORD_THROTTLED_LINK = "Too many wrong passwords for this link. Wait a while before trying again."


def _too_many(message: str, attempt):
    return error_response(429, "too_many_requests", message, title="Too many attempts",
                          headers={**NO_INDEX, "Retry-After": str(attempt.retry_after)})


def _throttle_not_found(view):
    """Each /s/ route carries this: only 404 answers count against the address."""
    @wraps(view)
    def counted(*args, **kwargs):
        attempt = take_attempt("share-not-found", request.remote_addr, _limit("SHARE_NOT_FOUND_LIMIT"))
        if not attempt:
            return _too_many(NOT_FOUND_THROTTLED, attempt)
        try:
            response = make_response(view(*args, **kwargs))
        except ServiceError as error:
            if error.http_status != 404:
                attempt.refund()
            raise
        except Exception:
            attempt.refund()
            raise
        if response.status_code != 404:
            attempt.refund()
        return response
    return counted


def _password_attempts(token: str):
    """Take a password attempt for this address and this link: (attempts, None), or
    (None, the 429 answer) if either is used up."""
    attempts = take_attempts(
        ("share-password", request.remote_addr, _limit("SHARE_PASSWORD_LIMIT_PER_ADDRESS")),
        ("share-password-link", shares.hash_token(token), _limit("SHARE_PASSWORD_LIMIT_PER_LINK")))
    if not attempts:
        return None, _too_many(PASSWORD_THROTTLED_ADDRESS if attempts.refused_scope == "share-password"
                               else PASSWORD_THROTTLED_LINK, attempts)
    return attempts, None


def _unlocked(shared: shares.Shared) -> bool:
    return not shared.needs_password or str(shared.id) in session.get(UNLOCKED_KEY, [])


def _unlock(shared: shares.Shared) -> None:
    unlocked = [link_id for link_id in session.get(UNLOCKED_KEY, []) if link_id != str(shared.id)]
    session[UNLOCKED_KEY] = (unlocked + [str(shared.id)])[-MAX_UNLOCKED:]


def _open(token: str, *, require_unlocked: bool = True) -> shares.Shared:
    shared = shares.resolve(get_db(), token)
    if require_unlocked and not _unlocked(shared):
        # An image or download asked for without the password: as if it did not exist.
        raise shares.not_shared()
    return shared


def _password_page(token: str, form: SharePasswordForm, error: str | None = None, status: int = 200):
    # Only the form: no image, no caption, no owner, until the password is given.
    return render_template("sharing/password.html", token=token, form=form, error=error), status, NO_INDEX


@bp.route("/<token>", methods=["GET", "POST"])
@_throttle_not_found
def shared(token):
    db = get_db()
    link = _open(token, require_unlocked=False)
    if not _unlocked(link):
        form = SharePasswordForm()
        if request.method == "POST" and form.validate_on_submit():
            attempts, refusal = _password_attempts(token)
            if refusal is not None:
                return refusal
            if shares.check_link_password(link, form.password.data):
                attempts.refund()
                _unlock(link)
                return redirect(url_for("sharing.shared", token=token), 303)
            return _password_page(token, form, "Wrong password.", 401)
        return _password_page(token, form, status=400 if request.method == "POST" else 200)
    if request.method == "POST":
        return redirect(url_for("sharing.shared", token=token), 303)
    shares.count_view(db, link)
    if link.photo is not None:
        return render_template("sharing/photo.html", token=token, shared=shares.photo_view(link),
                               allow_download=link.allow_download), 200, NO_INDEX
    page = shares.album_page(db, link, request.args.get("page", 1, type=int))
    return render_template("sharing/album.html", token=token, album=link.album, page=page,
                           owner_name=shares.owner_name(link) or "a Photoshare member"), 200, NO_INDEX


@bp.get("/<token>/image/<variant>")
@_throttle_not_found
def image(token, variant):
    link = _open(token)
    return _image_answer(link, shares.open_shared_image(get_db(), link, variant))


@bp.get("/<token>/photos/<photo_id>/image/<variant>")
@_throttle_not_found
def album_photo_image(token, photo_id, variant):
    link = _open(token)
    return _image_answer(link, shares.open_shared_image(get_db(), link, variant, photo_id))


def _image_answer(link: shares.Shared, stored):
    # Behind a password the image is for this browser only; otherwise shared caches may
    # keep it briefly.
    return image_response(stored, max_age=SHARED_IMAGE_MAX_AGE, public=not link.needs_password,
                          headers=NO_INDEX)


@bp.get("/<token>/original")
@_throttle_not_found
def original(token):
    download = shares.download_original(get_db(), _open(token))
    response = current_app.response_class(download.data, mimetype=download.mime_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response.headers.update(NO_INDEX)
    response.cache_control.no_store = True
    return response
