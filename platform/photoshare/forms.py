"""WTForms classes. Every form is a FlaskForm, so every form carries the hidden
`csrf_token` field (CSRFProtect also checks it on every POST). Business rules
(password length, e-mail format, uniqueness, upload checks) live in the service
layer, not here: these forms only shape the input."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (BooleanField, EmailField, HiddenField, IntegerField, PasswordField, RadioField, SelectField,
                     StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Optional

from .services.errors import ServiceError
from .services.visibility import PRIVATE, PUBLIC, UNLISTED


def show_service_error(form: FlaskForm, error: ServiceError) -> None:
    """Show a service error next to its field (or at the top of the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


class SignupForm(FlaskForm):
    email = EmailField("E-mail", validators=[InputRequired("Enter your e-mail address.")])
    name = StringField("Name (optional)")
    handle = StringField("Public handle (optional: your address /u/<handle>)")
    password = PasswordField("Password", validators=[InputRequired("Choose a password.")])
    confirm = PasswordField(
        "Repeat the password",
        validators=[InputRequired("Repeat the password."), EqualTo("password", "The two passwords differ.")],
    )


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[InputRequired("Enter your e-mail address.")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[InputRequired("Enter your current password.")])
    new_password = PasswordField("New password", validators=[InputRequired("Choose a new password.")])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired("Repeat the new password."),
                    EqualTo("new_password", "The two passwords differ.")],
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField("Your password", validators=[InputRequired("Enter your password to confirm.")])


class UploadForm(FlaskForm):
    """The dashboard's upload form: only the CSRF token here. The page's own
    `<input type="file" name="images" multiple>` files are read from request.files by
    the view, and the service checks them."""


class CaptionForm(FlaskForm):
    caption = TextAreaField("Your caption")


class AlbumForm(FlaskForm):
    name = StringField("Album name", validators=[InputRequired("Give the album a name.")])


class AddToAlbumForm(FlaskForm):
    # Choices are the user's albums; ownership is checked again by the service.
    album_id = SelectField("Album", validate_choice=False)


class VisibilityForm(FlaskForm):
    # The service (photos.update_photo) checks the value, so a tampered or
    # missing choice gets its message rather than a generic "not a valid choice".
    visibility = RadioField(
        "Who can see this photo",
        choices=[SelectChoice(PRIVATE, "Private (only you)"),
                 SelectChoice(UNLISTED, "Unlisted (anyone with a share link)"),
                 SelectChoice(PUBLIC, "Public (on your profile and on Explore)")],
        validate_choice=False,
    )


class ShareLinkForm(FlaskForm):
    """A new share link for a photo or an album (services.shares checks every value)."""
    photo_id = HiddenField()
    album_id = HiddenField()
    expires_in_days = IntegerField("Expires after (days, empty: never)", validators=[Optional()])
    password = PasswordField("Password (optional)")
    allow_download = BooleanField("Allow downloading the original (without its metadata)")


class SharePasswordForm(FlaskForm):
    password = PasswordField("Password", validators=[InputRequired("Enter the password of this link.")])


class HandleForm(FlaskForm):
    handle = StringField("Public handle", validators=[InputRequired("Choose a handle.")])


class SharedDetailsForm(FlaskForm):
    # What shared pages may show besides the caption (never the GPS position).
    show_camera = BooleanField("Show the camera on shared pages")
    show_date_taken = BooleanField("Show the date taken on shared pages")


class ConfirmForm(FlaskForm):
    """A bare form for buttons (delete, caption again, log out): only the CSRF token."""
