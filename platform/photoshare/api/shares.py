"""/api/v1/shares: make, list and revoke share links (services.shares).

The link's `token` and `url` are in the answer to its creation only: just a hash of the
token is stored, so neither can be shown again.
"""

from __future__ import annotations

from flask import current_app, url_for

from ..extensions import get_db
from ..services import shares
from .auth import current_owner_id, require_key
from .blueprint import Blueprint
from .schemas import NewShareSchema, ShareCreateSchema, ShareListSchema, list_envelope

bp = Blueprint("shares", __name__, url_prefix="/api/v1/shares",
               description="Share links /s/<token> to your photos and albums: expiry, password, download, "
                           "revocation, view counts.")


@bp.route("", methods=["POST"])
@bp.keyed(400, 403, 404, 422)
@require_key("write")
@bp.arguments(ShareCreateSchema)
@bp.response(201, NewShareSchema, description="The new link. `token` and `url` are shown only in this response.")
def create_share(args):
    """Make a share link

    Give exactly one of `photo_id` and `album_id`. A private photo or album becomes
    `unlisted` (its links work; it is listed nowhere). `expires_in_days` (1-365) and
    `password` are optional; `allow_download` lets visitors download the original,
    re-encoded without metadata.
    """
    new = shares.create_share(get_db(), current_owner_id(), photo_id=args.get("photo_id"),
                              album_id=args.get("album_id"), expires_in_days=args.get("expires_in_days"),
                              password=args.get("password"), allow_download=args.get("allow_download", False),
                              rounds=current_app.config["BCRYPT_ROUNDS"])
    return {**shares.share_view(new.link), "token": new.token,
            "url": url_for("sharing.shared", token=new.token, _external=True)}


@bp.route("", methods=["GET"])
@bp.keyed(403)
@require_key("read")
@bp.response(200, ShareListSchema)
def list_shares():
    """List your share links, newest first

    With their state (`active`, `expired`, `revoked`) and view counts; never the token.
    """
    return list_envelope(shares.list_shares(get_db(), current_owner_id()), shares.share_view)


@bp.route("/<oid:share_id>", methods=["DELETE"])
@bp.keyed(403, 404)
@require_key("write")
@bp.response(204, description="Revoked: the link answers 404 from now on.")
def revoke_share(share_id):
    """Revoke a share link"""
    shares.revoke_share(get_db(), current_owner_id(), share_id)
    return ""
