"""Accounts: sign-up, log-in (throttled), log-out, the account page.

A log-in is a server-side session (services.sessions): the cookie names it, `load_user`
checks it against the store on every request, and log-out deletes it.
"""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from ..errors import error_response, wants_json
from ..extensions import get_db, login_manager
from ..forms import ChangePasswordForm, ConfirmForm, DeleteAccountForm, LoginForm, SignupForm, show_service_error
from ..safe_urls import local_redirect_target
from ..services import accounts
from ..services import admin as admin_service
from ..services import sessions
from ..services import signup as signup_policy
from ..services.errors import AuthenticationFailed, ServiceError
from ..throttling import take_attempt, take_attempts

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"


class User(UserMixin):
    """The logged-in account, wrapping its MongoDB document and its session's token."""

    def __init__(self, doc: dict, session_token: str):
        self.doc = doc
        self.id: ObjectId = doc["_id"]
        self.email: str = doc["email"]
        self.name: str | None = doc.get("name")
        self.session_token = session_token

    def get_id(self) -> str:
        # What the signed cookie carries: the account and the session token, checked
        # against the `sessions` collection on every request (load_user).
        return f"{self.id}:{self.session_token}"

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def is_admin(self) -> bool:
        return admin_service.is_admin(self.doc)


def _policy() -> sessions.SessionPolicy:
    return sessions.SessionPolicy.from_config(current_app.config)


@login_manager.user_loader
def load_user(cookie_id: str) -> User | None:
    """The account of a live session, else None (anonymous: the login page). A store that
    does not answer raises (a 503 page, errors.backend_down), never a silent log-out."""
    user_id, _, token = cookie_id.partition(":")
    try:
        user_id = ObjectId(user_id)
    except InvalidId:
        return None
    db = get_db()
    session = sessions.resume(db, token, user_id, _policy())
    if session is None:
        return None
    doc = accounts.get_user(db, user_id)
    if doc is None or not sessions.is_current(session, doc) or accounts.is_disabled(doc) \
            or not accounts.is_active(doc):
        return None
    return User(doc, token)


def start_session(doc: dict) -> None:
    """Log `doc`'s account in: a new server-side session, named by this browser's cookie.
    A session this browser already had ends (a fresh token at every log-in: whoever knew
    the old one does not inherit the new log-in)."""
    db = get_db()
    if current_user.is_authenticated:
        sessions.end(db, current_user.session_token)
    login_user(User(doc, sessions.start(db, doc, _policy())))


def end_session() -> None:
    """Log out: the server-side session ends (a replayed cookie is anonymous), then the cookie."""
    if current_user.is_authenticated:
        sessions.end(get_db(), current_user.session_token)
    logout_user()


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
        # Each sign-up costs a bcrypt hash and a stored account: counted per address.
        attempt = take_attempt("signup-address", request.remote_addr, current_app.config["SIGNUP_LIMIT_PER_ADDRESS"])
        if not attempt:
            return _too_many("Too many sign-ups from your network address. Try again later.", attempt)
        try:
            doc = signup_policy.sign_up(get_db(), current_app.config, form.email.data, form.password.data,
                                        form.name.data, invite_token=invite, handle=form.handle.data)
        except ServiceError as error:
            if error.http_status == 403:
                status = 403  # refused by the policy: the page's notice says why
            else:
                show_service_error(form, error)
        else:
            start_session(doc)
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
# Policy (SECURITY.md): failed log-ins are counted per (account, client address) and per
# client address. Each attempt is counted before the password is checked, atomically
# (throttling.py), so parallel requests cannot overrun the limit; a successful log-in
# gives its attempt back. The per-account lock holds only for the address that failed:
# someone guessing elsewhere cannot keep the owner out of their own account.

ACCOUNT_LOCKED = "Too many failed log-in attempts for this account. Wait a few minutes before trying again."
ADDRESS_LOCKED = "Too many failed log-in attempts from your network address. Wait a few minutes before trying again."


def render_login(form: LoginForm | None = None, error: str | None = None, status: int = 200):
    return render_template("auth/login.html", form=form or LoginForm(), error=error), status


def _too_many(message: str, attempt):
    headers = {"Retry-After": str(attempt.retry_after)}
    if request.endpoint == "auth.login" and not wants_json():
        body, status = render_login(LoginForm(), message, 429)
        return body, status, headers
    return error_response(429, "too_many_requests", message, title="Too many attempts", headers=headers)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("gallery.index"))
    form = LoginForm()
    if form.validate_on_submit():
        config, address = current_app.config, request.remote_addr
        email = accounts.normalize_email(form.email.data)
        attempts = take_attempts(("login-account", f"{email}|{address}", config["LOGIN_LIMIT_PER_ACCOUNT"]),
                                 ("login-address", address, config["LOGIN_LIMIT_PER_ADDRESS"]))
        if not attempts:
            return _too_many(ACCOUNT_LOCKED if attempts.refused_scope == "login-account" else ADDRESS_LOCKED,
                             attempts)
        try:
            doc = accounts.authenticate(get_db(), email, form.password.data, rounds=_rounds())
        except AuthenticationFailed as error:
            return render_login(form, error.message, 401)
        attempts.refund()
        start_session(doc)
        # Only same-site paths: never redirect to another host after log-in.
        return redirect(local_redirect_target(request.args.get("next"), url_for("gallery.index")), 303)
    return render_login(form, status=400 if form.is_submitted() else 200)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    # GET only shows a confirmation button: logging out changes state, so it is a
    # POST carrying the CSRF token (a link or an <img> elsewhere cannot log you out).
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        end_session()
        flash("You are logged out.", "info")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/logout.html", form=form)


# Password re-entry (change password, delete account) is a password guess too: wrong
# passwords are counted per account, atomically like log-ins.
PASSWORD_CHECKS_LOCKED = "Too many wrong passwords. Wait a few minutes before trying again."
PASSWORD_FIELDS = ("current_password", "password")


def _password_check():
    return take_attempt("password-check", str(current_user.id), current_app.config["PASSWORD_CHECK_LIMIT"])


def _settle(attempt, error: ServiceError) -> None:
    # Only a wrong password counts; a too-short new password is not a guess.
    if getattr(error, "field", None) not in PASSWORD_FIELDS:
        attempt.refund()


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
        attempt = _password_check()
        if not attempt:
            return _too_many(PASSWORD_CHECKS_LOCKED, attempt)
        try:
            doc = accounts.change_password(get_db(), current_user.id, form.current_password.data,
                                           form.new_password.data, rounds=_rounds())
        except ServiceError as error:
            _settle(attempt, error)
            show_service_error(form, error)
        else:
            attempt.refund()
            start_session(doc)  # every session ended with the old password; this one goes on
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
        attempt = _password_check()
        if not attempt:
            return _too_many(PASSWORD_CHECKS_LOCKED, attempt)
        try:
            summary = accounts.delete_account(get_db(), current_user.id, form.password.data)
        except ServiceError as error:
            _settle(attempt, error)
            show_service_error(form, error)
        else:
            logout_user()  # the account's sessions were deleted with it
            flash(f"Your account and its {summary.photos} photos have been deleted.", "info")
            return redirect(url_for("auth.signup"), 303)
    return render_template("auth/account.html", password_form=ChangePasswordForm(prefix="pw"),
                           delete_form=form), 400
