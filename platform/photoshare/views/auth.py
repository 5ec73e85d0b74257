"""Accounts: sign-up, log-in (throttled), log-out, the account page."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from ..errors import error_response, wants_json
from ..extensions import address_key, get_db, limiter, limiter_key, login_manager
from ..forms import ChangePasswordForm, ConfirmForm, DeleteAccountForm, LoginForm, SignupForm, show_service_error
from ..safe_urls import local_redirect_target
from ..services import accounts
from ..services import admin as admin_service
from ..services import signup as signup_policy
from ..services.errors import AuthenticationFailed, ServiceError

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"


class User(UserMixin):
    """The logged-in account, wrapping its MongoDB document."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.id: ObjectId = doc["_id"]
        self.email: str = doc["email"]
        self.name: str | None = doc.get("name")

    def get_id(self) -> str:
        # The session version is part of the id: changing the password bumps it,
        # which invalidates every other session of the account.
        return f"{self.id}:{self.doc.get('session_version', 1)}"

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def is_admin(self) -> bool:
        return admin_service.is_admin(self.doc)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    try:
        doc = accounts.get_user(get_db(), ObjectId(user_id))
    except InvalidId:
        return None
    if doc is None or str(doc.get("session_version", 1)) != version or accounts.is_disabled(doc):
        return None
    return User(doc)


def _rounds() -> int:
    return current_app.config["BCRYPT_ROUNDS"]


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("gallery.index"))
    form = SignupForm()
    # The signup policy (services.signup): open, by invitation (?invite=<token>), closed.
    invite = request.values.get("invite") or None
    status = 400 if form.is_submitted() else 200
    if form.validate_on_submit():
        try:
            doc = signup_policy.sign_up(get_db(), current_app.config, form.email.data, form.password.data,
                                        form.name.data, invite_token=invite, handle=form.handle.data)
        except ServiceError as error:
            if error.http_status == 403:
                status = 403  # refused by the policy: the page's notice says why
            else:
                show_service_error(form, error)
        else:
            login_user(User(doc))
            flash("Welcome! Your account is ready: upload your first photos below.", "success")
            return redirect(url_for("gallery.index"), 303)
    return render_template("auth/signup.html", form=form, invite=invite,
                           notice=_signup_notice(invite)), status


def _signup_notice(invite: str | None) -> str | None:
    """Why this page cannot create an account as it stands (policy, bad invitation)."""
    db, config = get_db(), current_app.config
    if signup_policy.signup_allowed_without_invite(db, config):
        return None
    if signup_policy.policy(db, config) == signup_policy.CLOSED:
        return "Sign-up is closed on this site. Ask the administrator for an account."
    if not invite:
        return "Sign-up is by invitation only on this site. Ask the administrator for an invitation link."
    try:
        signup_policy.check_invite(db, invite)
    except ServiceError as error:
        return error.message
    return None


# -- Log-in throttling ------------------------------------------------------------
# Only failed attempts count (deduct_when), per account and per client address; a
# throttled request is refused before the password is even checked.

def _account_key() -> str:
    return limiter_key("login-account", accounts.normalize_email(request.form.get("email")))


def _address_key() -> str:
    return address_key("login-address")


def _login_failed(response) -> bool:
    return response.status_code != 303


def render_login(form: LoginForm | None = None, error: str | None = None, status: int = 200):
    return render_template("auth/login.html", form=form or LoginForm(), error=error), status


@bp.errorhandler(RateLimitExceeded)
def login_throttled(error: RateLimitExceeded):
    # The log-in page itself says why (the app-wide handler renders a plain error page).
    if request.endpoint == "auth.login" and not wants_json():
        return render_login(error=error.description, status=429)
    return error_response(429, "too_many_requests", error.description, title="Too many attempts")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_account_key,
               methods=["POST"], deduct_when=_login_failed,
               error_message="Too many failed log-in attempts for this account. "
                             "Wait a few minutes before trying again.")
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], key_func=_address_key,
               methods=["POST"], deduct_when=_login_failed,
               error_message="Too many failed log-in attempts from your network address. "
                             "Wait a few minutes before trying again.")
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("gallery.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            doc = accounts.authenticate(get_db(), form.email.data, form.password.data, rounds=_rounds())
        except AuthenticationFailed as error:
            return render_login(form, error.message, 401)
        login_user(User(doc))
        # Only same-site paths: never redirect to another host after log-in.
        return redirect(local_redirect_target(request.args.get("next"), url_for("gallery.index")), 303)
    return render_login(form, status=400 if form.is_submitted() else 200)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    # GET only shows a confirmation button: logging out changes state, so it is a
    # POST carrying the CSRF token (a link or an <img> elsewhere cannot log you out).
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        logout_user()
        flash("You are logged out.", "info")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/logout.html", form=form)


@bp.get("/account")
@login_required
def account():
    return render_template("auth/account.html", password_form=ChangePasswordForm(prefix="pw"),
                           delete_form=DeleteAccountForm(prefix="del"))


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            doc = accounts.change_password(get_db(), current_user.id, form.current_password.data,
                                           form.new_password.data, rounds=_rounds())
        except ServiceError as error:
            show_service_error(form, error)
        else:
            login_user(User(doc))  # this session carries the new session version
            flash("Your password has been changed. Other sessions have been logged out and your API keys "
                  "have been revoked: create new ones for your scripts and apps.", "success")
            return redirect(url_for("auth.account"), 303)
    return render_template("auth/account.html", password_form=form,
                           delete_form=DeleteAccountForm(prefix="del")), 400


@bp.post("/account/delete")
@login_required
def delete_account():
    form = DeleteAccountForm(prefix="del")
    if form.validate_on_submit():
        try:
            summary = accounts.delete_account(get_db(), current_user.id, form.password.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            logout_user()
            flash(f"Your account and its {summary.photos} photos have been deleted.", "info")
            return redirect(url_for("auth.signup"), 303)
    return render_template("auth/account.html", password_form=ChangePasswordForm(prefix="pw"),
                           delete_form=form), 400
