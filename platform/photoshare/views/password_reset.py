"""Forgot password (/forgot-password) and the reset link's page (/reset-password/<token>).

The "forgot password" answer is the same whether or not the address has an account
(it does not reveal who has one), and requests are throttled per address and per
e-mail. The reset page checks the link first (a used or expired link says so); a reset
ends every session of the account, so the person logs in again with the new password.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import EqualTo, InputRequired

from ..extensions import address_key, get_db, limiter, limiter_key
from ..forms import show_service_error
from ..services import accounts, password_reset
from ..services.errors import ServiceError
from ..links import external_url

bp = Blueprint("password", __name__)


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail", validators=[InputRequired("Enter your e-mail address.")])


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField("New password", validators=[InputRequired("Choose a new password.")])
    confirm = PasswordField("Repeat the new password", validators=[
        InputRequired("Repeat the new password."), EqualTo("new_password", "The two passwords differ.")])


def _email_key() -> str:
    return limiter_key("reset-account", accounts.normalize_email(request.form.get("email")))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit("5 per hour", key_func=_email_key, methods=["POST"],
               error_message="Too many reset requests for this address. Wait a while before trying again.")
@limiter.limit("20 per hour", key_func=lambda: address_key("reset-address"), methods=["POST"],
               error_message="Too many reset requests from your network address. Wait a while.")
def forgot():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        password_reset.request_reset(get_db(), current_app.config, form.email.data,
                                     lambda token: external_url("password.reset", token=token))
        flash("If an account has this address, a message with a reset link is on its way. "
              f"The link works once, for {current_app.config['PASSWORD_RESET_TTL_MINUTES']} minutes.", "info")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/forgot_password.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset(token):
    db = get_db()
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}  # the token is in the URL
    try:
        password_reset.check_link(db, token)
    except ServiceError as error:
        return render_template("auth/reset_password.html", form=None, invalid=error.message), error.http_status, headers
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            password_reset.reset_password(db, current_app.config, token, form.new_password.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash("Your password is changed and every session of your account has ended. "
                  "Log in with the new password.", "success")
            return redirect(url_for("auth.login"), 303)
    status = 400 if form.is_submitted() else 200
    return render_template("auth/reset_password.html", form=form, invalid=None), status, headers
