"""/admin: the administrator's pages (users, signup policy and invitations, system).

Anyone who is not a logged-in administrator gets a 404 on every page here (the pages'
existence is not advertised). Every form posts its CSRF token; rules live in the
services (services.admin, services.signup, services.system, services.password_reset).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from ..extensions import get_db, get_queue, get_redis
from ..forms import ConfirmForm
from ..services import admin as admin_service
from ..services import password_reset, signup, system
from ..services.errors import ValidationError
from ..services.quota import human_bytes
from ..services.quota import usage_of
from ..links import external_url

bp = Blueprint("admin", __name__, url_prefix="/admin")

MB = 1024 * 1024


class QuotaForm(FlaskForm):
    quota_mb = IntegerField("Quota (MB)", validators=[Optional()])


class PolicyForm(FlaskForm):
    signup_policy = SelectField("Who may sign up", choices=[
        SelectChoice(signup.OPEN, "Anyone (open)"), SelectChoice(signup.INVITE, "Invited people only"),
        SelectChoice(signup.CLOSED, "Nobody (closed)")], validate_choice=False)


class InviteForm(FlaskForm):
    expires_in_hours = IntegerField("Valid for (hours)", validators=[Optional()])
    note = StringField("Note (for you: who it is for)")


class RecaptionForm(FlaskForm):
    model_version = StringField("Model version", validators=[Optional()])


def administrators_only():
    # 404, not 403: the admin pages do not exist for anyone else. It runs before every
    # other hook of the app (CSRF included), so a forged POST gets the same 404 as a GET.
    if request.blueprint == bp.name and not (current_user.is_authenticated
                                             and admin_service.is_admin(current_user.doc)):
        abort(404)


bp.record_once(lambda state: state.app.before_request_funcs.setdefault(None, []).insert(0, administrators_only))


@bp.app_template_global()
def bytes_text(size) -> str:
    return human_bytes(size or 0)


@bp.app_template_global()
def storage_usage():
    """The logged-in user's storage used and quota (the dashboard shows them), from the
    account document the session loaded at the start of this request: one store round
    trip fewer per dashboard (of six)."""
    return usage_of(current_user.doc, current_app.config)


@bp.get("")
def index():
    return redirect(url_for("admin.users"))


# -- Users ------------------------------------------------------------------------------

def _render_users(reset_link: dict | None = None):
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows, total = admin_service.list_users(get_db(), current_app.config, page)
    return render_template("admin/users.html", users=rows, total=total, page=page,
                           per_page=admin_service.USERS_PER_PAGE, confirm_form=ConfirmForm(),
                           quota_form=QuotaForm(), default_quota=current_app.config["DEFAULT_QUOTA_BYTES"],
                           reset_link=reset_link)


@bp.get("/users")
def users():
    return _render_users()


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _back(message: str, category: str = "success"):
    flash(message, category)
    return redirect(url_for("admin.users", page=request.args.get("page", 1, type=int)), 303)


@bp.post("/users/<oid:user_id>/disable")
def disable_user(user_id):
    _confirmed()
    user = admin_service.update_user(get_db(), current_user.id, user_id, disabled=True)
    return _back(f"{user['email']} is disabled: signed out, API keys stopped, public pages hidden.")


@bp.post("/users/<oid:user_id>/enable")
def enable_user(user_id):
    _confirmed()
    user = admin_service.update_user(get_db(), current_user.id, user_id, disabled=False)
    return _back(f"{user['email']} is enabled again.")


@bp.post("/users/<oid:user_id>/role")
def set_role(user_id):
    _confirmed()
    role = request.form.get("role", "")
    user = admin_service.update_user(get_db(), current_user.id, user_id, role=role)
    return _back(f"{user['email']} is now {'an administrator' if role == admin_service.ADMIN else 'a user'}.")


@bp.post("/users/<oid:user_id>/quota")
def set_quota(user_id):
    form = QuotaForm()
    if not form.validate_on_submit():
        raise ValidationError("The quota must be a whole number of megabytes (empty: the default).",
                              field="quota_bytes")
    quota = None if form.quota_mb.data is None else form.quota_mb.data * MB
    user = admin_service.update_user(get_db(), current_user.id, user_id, quota_bytes=quota)
    return _back(f"Quota of {user['email']}: {human_bytes(quota) if quota is not None else 'the default'}.")


@bp.post("/users/<oid:user_id>/delete")
def delete_user(user_id):
    _confirmed()
    user = admin_service.get_user(get_db(), user_id)
    summary = admin_service.delete_user(get_db(), current_user.id, user_id)
    return _back(f"{user['email']} and their {summary.photos} photos are deleted.", "info")


@bp.post("/users/<oid:user_id>/reset-link")
def reset_link(user_id):
    _confirmed()
    db = get_db()
    _, token = password_reset.admin_issue_link(db, current_app.config, current_user.id, user_id)
    user = admin_service.get_user(db, user_id)
    link = {"email": user["email"], "url": external_url("password.reset", token=token),
            "minutes": current_app.config["PASSWORD_RESET_TTL_MINUTES"]}
    return _render_users(link), 200, {"Cache-Control": "no-store"}  # the link is shown once


# -- Sign-up policy and invitations ---------------------------------------------------------

def _render_signup(new_invite_url: str | None = None, status: int = 200):
    db = get_db()
    policy = signup.policy(db, current_app.config)
    return render_template("admin/signup.html", policy_form=PolicyForm(signup_policy=policy), policy=policy,
                           invite_form=InviteForm(), invites=signup.list_invites(db),
                           invite_state=signup.invite_state, confirm_form=ConfirmForm(),
                           new_invite_url=new_invite_url,
                           default_hours=current_app.config["INVITE_TTL_HOURS"]), status, {"Cache-Control": "no-store"}


@bp.get("/signup")
def signup_settings():
    return _render_signup()


@bp.post("/signup/policy")
def set_policy():
    form = PolicyForm()
    if not form.validate_on_submit():
        abort(400)
    policy = signup.set_policy(get_db(), form.signup_policy.data)
    flash(f"Signup policy: {policy}.", "success")
    return redirect(url_for("admin.signup_settings"), 303)


@bp.post("/invites")
def create_invite():
    form = InviteForm()
    if not form.validate_on_submit():
        raise ValidationError("The validity must be a whole number of hours.", field="expires_in_hours")
    _, token = signup.create_invite(get_db(), current_app.config, current_user.id,
                                    expires_in_hours=form.expires_in_hours.data, note=form.note.data)
    return _render_signup(new_invite_url=external_url("auth.signup", invite=token), status=201)


@bp.post("/invites/<oid:invite_id>/revoke")
def revoke_invite(invite_id):
    _confirmed()
    signup.revoke_invite(get_db(), invite_id)
    flash("The invitation no longer works.", "info")
    return redirect(url_for("admin.signup_settings"), 303)


# -- System ---------------------------------------------------------------------------------

@bp.get("/system")
def system_page():
    db, redis, queue = get_db(), get_redis(), get_queue()
    stats = system.stats(db, queue, redis, current_app.config)
    return render_template("admin/system.html", stats=stats, failed=system.failed_photos(db),
                           confirm_form=ConfirmForm(), recaption_form=RecaptionForm())


@bp.post("/system/retry-failed")
def retry_failed():
    _confirmed()
    count = system.retry_failed(get_db(), get_queue(), current_app.config)
    flash(f"{count} failed photo{'s' if count != 1 else ''} queued for captioning again.", "success")
    return redirect(url_for("admin.system_page"), 303)


@bp.post("/system/recaption-outdated")
def recaption_outdated():
    form = RecaptionForm()
    if not form.validate_on_submit():
        abort(400)
    version = system.start_recaption_outdated(get_redis(), get_queue(), current_app.config, form.model_version.data)
    flash(f"Re-captioning of photos not captioned by {version} started in the background "
          f"({current_app.config['RECAPTION_BATCH']} at a time).", "success")
    return redirect(url_for("admin.system_page"), 303)
