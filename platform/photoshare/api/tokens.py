"""/api/v1/tokens: create API keys with the account's e-mail and password (HTTP Basic),
list and revoke them.

Failed Basic-auth attempts are throttled per (e-mail, client address) and per client
address, like the website's log-in (API_TOKEN_LIMIT_PER_ACCOUNT / _PER_ADDRESS; counted
atomically in api/auth.py).
"""

from __future__ import annotations

from ..extensions import get_db
from ..services import api_keys
from . import auth
from .auth import current_owner_id, require_account
from .blueprint import Blueprint
from .schemas import NewTokenSchema, TokenCreateSchema, TokenListSchema, list_envelope

bp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens",
               description="API keys. Create them with your e-mail and password (HTTP Basic); "
                           "the key is shown once.")

@bp.route("", methods=["POST"])
@bp.basic(400, 403, 422)
@require_account()
@bp.arguments(TokenCreateSchema)
@bp.response(201, NewTokenSchema, description="The new key. `key` is shown only in this response: store it.")
def create_token(args):
    """Create an API key

    Authenticate with your account's e-mail and password (HTTP Basic). Scopes: `read`
    (list and download) and/or `write` (upload, change, delete); `admin` (the
    /api/v1/admin endpoints) for administrators only (403 for anyone else).
    `expires_in_days` is optional (never expires when omitted).
    """
    new = api_keys.create_key(get_db(), current_owner_id(), args["name"], args["scopes"],
                              args.get("expires_in_days"))
    return {**api_keys.key_view(new.doc), "key": new.secret}


@bp.route("", methods=["GET"])
@bp.basic(403, also_key=True)
@require_account(key_scope="read")
@bp.response(200, TokenListSchema)
def list_tokens():
    """List your API keys

    Name, prefix, scopes, creation, last use, expiry and revocation; never the key itself.
    """
    return list_envelope(api_keys.list_keys(get_db(), current_owner_id()), api_keys.key_view)


@bp.route("/<oid:token_id>", methods=["DELETE"])
@bp.basic(403, 404, also_key=True)
@require_account(key_scope="write")
@bp.response(204, description="Revoked: the key stops working at once.")
def revoke_token(token_id):
    """Revoke an API key

    With HTTP Basic, or with an API key that has the `write` scope (a key may revoke
    itself).
    """
    api_keys.revoke_key(get_db(), current_owner_id(), token_id)
    return ""
