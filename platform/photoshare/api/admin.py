"""/api/v1/admin: administration through the API, for keys with the `admin` scope.

Only administrators can create such keys, and a key works here only while its owner
is still an administrator; any other key gets 403 (insufficient_scope).
"""

from __future__ import annotations

from flask import current_app

from ..extensions import get_db, get_queue, get_redis
from ..links import external_url
from ..services import admin as admin_service
from ..services import signup, system
from .auth import current_owner_id, require_key
from .blueprint import Blueprint
from .schemas import Schema, date_time, fields, validate

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin",
               description="Administration (API keys with the `admin` scope, administrators only).")


class AdminUserSchema(Schema):
    id = fields.String(required=True)
    email = fields.String(required=True)
    name = fields.String(allow_none=True)
    handle = fields.String(allow_none=True)
    role = fields.String(required=True, validate=validate.OneOf(admin_service.ROLES))
    state = fields.String(required=True, metadata={"description": "active, disabled or deleting"})
    photos = fields.Integer(required=True)
    storage_used_bytes = fields.Integer(required=True)
    quota_bytes = fields.Integer(required=True,
                                 metadata={"description": "The account's quota (its own or the default)"})
    custom_quota = fields.Boolean(required=True, metadata={"description": "false: the configured default applies"})
    created_at = date_time("When the account was created", allow_none=True)
    last_login_at = date_time("Last successful log-in (website or HTTP Basic)", allow_none=True)


class UserListArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


class UserListSchema(Schema):
    items = fields.List(fields.Nested(AdminUserSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class UserPatchSchema(Schema):
    quota_bytes = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=0),
                                 metadata={"description": "Bytes; null: back to the configured default"})
    disabled = fields.Boolean(metadata={"description": "true: no log-in, sessions end, API keys stop "
                                                       "working, public pages go dark"})
    role = fields.String(validate=validate.OneOf(admin_service.ROLES))


class SettingsSchema(Schema):
    signup_policy = fields.String(required=True, validate=validate.OneOf(signup.POLICIES))


class InviteCreateSchema(Schema):
    expires_in_hours = fields.Integer(allow_none=True, strict=True,
                                      validate=validate.Range(min=1, max=signup.MAX_INVITE_HOURS),
                                      metadata={"description": "Default INVITE_TTL_HOURS"})
    note = fields.String(allow_none=True, metadata={"description": "For you: who it is for (200 characters)"})


class InviteSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "The sign-up link; shown only in this response"})
    expires_at = date_time("When the link stops working", required=True)


class WorkerSchema(Schema):
    name = fields.String(allow_none=True)
    state = fields.String(allow_none=True)
    model_version = fields.String(allow_none=True)
    host = fields.String(allow_none=True)
    pid = fields.Integer(allow_none=True)
    last_heartbeat = fields.Float(allow_none=True, metadata={"description": "Unix time"})


class StatsSchema(Schema):
    users = fields.Integer(required=True)
    signup_policy = fields.String(required=True)
    queue_depth = fields.Integer(required=True)
    photos_by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    workers = fields.List(fields.Nested(WorkerSchema), required=True)
    model_version = fields.String(allow_none=True, required=True,
                                  metadata={"description": "The model the live workers run (null: no worker)"})
    outdated_photos = fields.Integer(required=True,
                                     metadata={"description": "Photos captioned by another model version"})


@bp.route("/users", methods=["GET"])
@bp.keyed(403, 422)
@require_key("admin")
@bp.arguments(UserListArgsSchema, location="query")
@bp.response(200, UserListSchema)
def list_users(args):
    """List the accounts

    Oldest first, 50 per page: e-mail, handle, role, state, photos, storage used and quota,
    last log-in.
    """
    items, total = admin_service.list_users(get_db(), current_app.config, args["page"])
    return {"items": items, "total": total, "page": args["page"], "per_page": admin_service.USERS_PER_PAGE}


@bp.route("/users/<oid:user_id>", methods=["PATCH"])
@bp.keyed(400, 403, 404, 409, 422)
@require_key("admin")
@bp.arguments(UserPatchSchema)
@bp.response(200, AdminUserSchema)
def update_user(args, user_id):
    """Change an account's quota, state or role

    Send only what changes. You cannot disable or demote your own account (409).
    """
    db = get_db()
    user = admin_service.update_user(db, current_owner_id(), user_id, **args)
    return admin_service.user_view(db, user, current_app.config)


@bp.route("/settings", methods=["PATCH"])
@bp.keyed(400, 403, 422)
@require_key("admin")
@bp.arguments(SettingsSchema)
@bp.response(200, SettingsSchema)
def update_settings(args):
    """Set the signup policy

    `open` (anyone), `invite` (invitation links only) or `closed`.
    """
    return {"signup_policy": signup.set_policy(get_db(), args["signup_policy"])}


@bp.route("/invites", methods=["POST"])
@bp.keyed(400, 403, 422)
@require_key("admin")
@bp.arguments(InviteCreateSchema)
@bp.response(201, InviteSchema)
def create_invite(args):
    """Create an invitation link

    Single use; it expires after `expires_in_hours`. The link carries a secret that is
    shown only here (only its hash is stored).
    """
    invite, token = signup.create_invite(get_db(), current_app.config, current_owner_id(),
                                         expires_in_hours=args.get("expires_in_hours"), note=args.get("note"))
    return {"id": str(invite["_id"]), "url": external_url("auth.signup", invite=token),
            "expires_at": invite["expires_at"].isoformat()}


@bp.route("/stats", methods=["GET"])
@bp.keyed(403)
@require_key("admin")
@bp.response(200, StatsSchema)
def stats():
    """Platform statistics

    Accounts, signup policy, caption queue depth, photos by caption status, live workers,
    the current model version and how many photos carry an older one.
    """
    db = get_db()
    return {"users": admin_service.account_count(db), "signup_policy": signup.policy(db, current_app.config),
            **system.stats(db, get_queue(), get_redis(), current_app.config)}
