"""Website pages to manage API keys (/account/api-keys): create (the key is shown once,
on the answer page itself: never flashed, never stored in the session), list, revoke.

A regular web blueprint (login session + CSRF); the rules are in services.api_keys, the
same ones the API's /api/v1/tokens uses.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from ..extensions import get_db
from ..forms import ConfirmForm, show_service_error
from ..services import api_keys
from ..services.errors import ServiceError

bp = Blueprint("api_keys", __name__, url_prefix="/account/api-keys")

EXPIRY_CHOICES = [SelectChoice("", "Never"), SelectChoice("7", "In 7 days"), SelectChoice("30", "In 30 days"),
                  SelectChoice("90", "In 90 days"), SelectChoice("365", "In a year")]


class ApiKeyForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the key a name.")],
                       description="What uses the key, e.g. “backup script”.")
    scopes = SelectMultipleField(
        "Scopes",
        choices=[SelectChoice(api_keys.READ, "read: list, search and download photos and albums"),
                 SelectChoice(api_keys.WRITE, "write: upload, change and delete")],
        default=[api_keys.READ],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        validate_choice=False,  # the service checks the scopes
    )
    expires_in_days = SelectField("Expires", choices=EXPIRY_CHOICES, default="90", validate_choice=False)


def _render(form: ApiKeyForm | None = None, new_key: api_keys.NewKey | None = None, status: int = 200):
    keys = api_keys.list_keys(get_db(), current_user.id)
    form = form or ApiKeyForm()
    if current_user.is_admin:  # the admin scope is offered to administrators only
        form.scopes.choices = [*form.scopes.choices,
                               SelectChoice(api_keys.ADMIN, "admin: the administration API (/api/v1/admin)")]
    response = render_template("api_keys/index.html", form=form, keys=keys, new_key=new_key,
                               key_state=api_keys.key_state, confirm_form=ConfirmForm())
    headers = {"Cache-Control": "no-store"} if new_key else {}
    return response, status, headers


@bp.get("")
@login_required
def index():
    return _render()


@bp.post("")
@login_required
def create():
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            new_key = api_keys.create_key(get_db(), current_user.id, form.name.data, form.scopes.data,
                                          form.expires_in_days.data or None)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            # Shown on this answer only; a fresh form so the page can create another.
            return _render(ApiKeyForm(formdata=None), new_key=new_key, status=201)
    return _render(form, status=400)


@bp.post("/<oid:key_id>/revoke")
@login_required
def revoke(key_id):
    if ConfirmForm().validate_on_submit():
        key = api_keys.revoke_key(get_db(), current_user.id, key_id)
        flash(f"The key “{key['name']}” ({key['prefix']}…) is revoked: it no longer works.", "info")
    return redirect(url_for("api_keys.index"), 303)
