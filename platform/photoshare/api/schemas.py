"""Marshmallow schemas of the API: they shape and type the input (webargs answers 422
when they do not match) and document every body in the OpenAPI document.

Limits and allowed values come from the service modules' constants; the rules
themselves (normalisation, ownership, image checks) run in the services. Text lengths
are checked there only, after whitespace is collapsed (a schema check before it would
refuse text the service accepts): the descriptions state them.
"""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from werkzeug.datastructures import FileStorage

from ..repositories.photos import CAPTION_STATUSES
from ..services import albums, api_keys, pagination, shares
from ..services.albums import MAX_ALBUM_NAME_LENGTH
from ..services.photos import MAX_USER_CAPTION_LENGTH
from ..services.visibility import VISIBILITIES

OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"
IMAGE_SIZES = ("thumb", "display", "original")


def object_id(description: str | None = None, **kwargs) -> fields.String:
    metadata = {"example": "665f1c2e9b1e8a3d4c5b6a79"}
    if description:
        metadata["description"] = description
    return fields.String(validate=validate.Regexp(OBJECT_ID_PATTERN, error="Not a valid id."),
                         metadata=metadata, **kwargs)


def date_time(description: str, **kwargs) -> fields.String:
    # Dates are already ISO 8601 strings (services' serialize_*); documented as date-time.
    return fields.String(metadata={"format": "date-time", "description": description}, **kwargs)


class ImageFile(Upload):
    """A file part of a multipart body. The same name sent as a plain text field is a 422
    (webargs merges form fields and files), not a string the upload code would misread."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ma.ValidationError("Send the image as a file (a multipart file part), not as text.")
        return value


class Schema(ma.Schema):
    class Meta:
        ordered = True


# -- Errors --------------------------------------------------------------------------

class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "Stable machine-readable code",
                                                  "example": "not_found"})
    message = fields.String(required=True, metadata={"description": "Explanation for people"})
    field = fields.String(metadata={"description": "The input field at fault, when there is one"})
    details = fields.Dict(metadata={"description": "Validation messages by location and field (422)"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)
    job_id = fields.String(metadata={"description": "With caption_timeout (504): the job to poll"})
    existing_id = fields.String(metadata={"description": "With duplicate (409): the id of your photo "
                                                         "that has the very same bytes"})


# -- API keys ------------------------------------------------------------------------

class TokenCreateSchema(Schema):
    name = fields.String(required=True, metadata={
        "example": "backup script",
        "description": f"1 to {api_keys.MAX_KEY_NAME_LENGTH} characters (runs of white space count as one)"})
    scopes = fields.List(fields.String(validate=validate.OneOf(api_keys.SCOPES)), required=True,
                         validate=validate.Length(min=1, max=len(api_keys.SCOPES)),
                         metadata={"example": ["read", "write"]})
    expires_in_days = fields.Integer(allow_none=True, load_default=None, strict=True,
                                     validate=validate.Range(min=1, max=api_keys.MAX_EXPIRY_DAYS),
                                     metadata={"description": "Omit or null: the key never expires"})


class TokenSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "First characters of the key, to recognise it"})
    scopes = fields.List(fields.String(validate=validate.OneOf(api_keys.SCOPES)), required=True)
    created_at = date_time("When the key was created", required=True)
    last_used_at = date_time("Last authenticated request (minute resolution)", allow_none=True, required=True)
    expires_at = date_time("Expiry, null for never", allow_none=True, required=True)
    revoked_at = date_time("Revocation time, null while not revoked", allow_none=True, required=True)
    state = fields.String(required=True, validate=validate.OneOf(("active", "revoked", "expired")))


class NewTokenSchema(TokenSchema):
    key = fields.String(required=True, metadata={"description": "The API key. Shown only in this response."})


def list_schema(name: str, item_schema: type[Schema], cursor_description: str) -> type[Schema]:
    """The one list envelope of the API, `{"items": [...], "next_cursor": ...}`, as a schema
    named `name` (the OpenAPI component)."""
    return type(name, (Schema,), {
        "items": fields.List(fields.Nested(item_schema), required=True),
        "next_cursor": fields.String(allow_none=True, required=True, metadata={"description": cursor_description}),
    })


def list_envelope(items, view, next_cursor: str | None = None) -> dict:
    """The body of a list answer: each item through `view`, and the next page's cursor."""
    return {"items": [view(item) for item in items], "next_cursor": next_cursor}


class ListArgsSchema(Schema):
    """Query arguments of every cursor-paginated list."""
    limit = fields.Integer(load_default=pagination.DEFAULT_LIMIT,
                           validate=validate.Range(min=1, max=pagination.MAX_PER_PAGE))
    cursor = fields.String(validate=validate.Length(max=200),
                           metadata={"description": "next_cursor of the previous page"})


NEXT_PAGE = "Pass as `cursor` for the next page; null on the last"
TokenListSchema = list_schema("TokenListSchema", TokenSchema, "Always null: all keys fit in one page")


# -- Photos ----------------------------------------------------------------------------

class AlternativeSchema(Schema):
    caption = fields.String(required=True)
    score = fields.Float(required=True, metadata={"description": "Log-probability of the caption"})


class PhotoUrlsSchema(Schema):
    self = fields.String(required=True, metadata={"description": "This photo in the API"})
    web = fields.String(required=True, metadata={"description": "The photo's page on the website"})
    thumb = fields.String(required=True)
    display = fields.String(required=True)
    original = fields.String(required=True)


class ExifSchema(Schema):
    camera = fields.String(allow_none=True, required=True)
    lens = fields.String(allow_none=True, required=True)
    taken_at = fields.String(allow_none=True, required=True,
                             metadata={"description": "Date taken as the camera wrote it (no time zone)"})
    has_gps = fields.Boolean(required=True, metadata={
        "description": "Whether the original holds a GPS position (never shown to anyone else, never served)"})


class PhotoSchema(Schema):
    id = fields.String(required=True)
    created_at = date_time("Upload time", required=True)
    filename = fields.String(required=True)
    format = fields.String(required=True, metadata={"example": "JPEG"})
    size_bytes = fields.Integer(required=True)
    width = fields.Integer(required=True, metadata={"description": "Width of the upright image"})
    height = fields.Integer(required=True, metadata={"description": "Height of the upright image"})
    caption = fields.String(allow_none=True, required=True,
                            metadata={"description": "The user's caption if set, else the AI's"})
    ai_caption = fields.String(allow_none=True, required=True)
    user_caption = fields.String(allow_none=True, required=True)
    caption_status = fields.String(required=True, validate=validate.OneOf(CAPTION_STATUSES))
    caption_error = fields.String(allow_none=True, required=True)
    model_version = fields.String(allow_none=True, required=True)
    alternatives = fields.List(fields.Nested(AlternativeSchema), required=True,
                               metadata={"description": "Other captions of the beam search, best first"})
    album_ids = fields.List(fields.String(), required=True)
    visibility = fields.String(required=True, validate=validate.OneOf(VISIBILITIES), metadata={
        "description": "private (only you), unlisted (anyone with a share link) or public (also on your profile "
                       "and /explore)"})
    exif = fields.Nested(ExifSchema, required=True)
    show_camera = fields.Boolean(required=True, metadata={"description": "Shared pages show the camera"})
    show_date_taken = fields.Boolean(required=True, metadata={"description": "Shared pages show the date taken"})
    urls = fields.Nested(PhotoUrlsSchema, required=True)


PhotoPageSchema = list_schema("PhotoPageSchema", PhotoSchema, NEXT_PAGE)


class PhotoListArgsSchema(ListArgsSchema):
    album_id = object_id("Only this album's photos")
    status = fields.String(validate=validate.OneOf(CAPTION_STATUSES))
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    q = fields.String(validate=validate.Length(max=100),
                      metadata={"description": "Search in captions and file names"})


class PhotoUploadSchema(Schema):
    image = ImageFile(required=True, metadata={"description": "JPEG, PNG, WebP, GIF or HEIC"})
    caption = fields.String(metadata={"description": "Your own caption (the AI caption is still made); "
                                                     f"at most {MAX_USER_CAPTION_LENGTH} characters"})
    album_id = object_id("Put the photo in this album")
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES),
                               metadata={"description": "Default: private"})
    keep_both = fields.Boolean(load_default=False, metadata={
        "description": "Store the image even if you already have a photo with the very same bytes "
                       "(otherwise that is a 409 `duplicate` with the existing photo's id)"})


class PhotoPatchSchema(Schema):
    caption = fields.String(allow_none=True, metadata={
        "description": f"Your caption, at most {MAX_USER_CAPTION_LENGTH} characters; empty or null clears it"})
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    album_ids = fields.List(object_id(), validate=validate.Length(max=albums.MAX_ALBUMS_PER_PHOTO),
                            metadata={"description": "The photo's albums, exactly (replaces the list)"})
    show_camera = fields.Boolean(metadata={"description": "Show the camera on shared pages"})
    show_date_taken = fields.Boolean(metadata={"description": "Show the date taken on shared pages"})


class ImageArgsSchema(Schema):
    size = fields.String(load_default="display", validate=validate.OneOf(IMAGE_SIZES),
                         metadata={"description": "thumb (≤400 px), display (≤1600 px, upright) or original"})


# -- Albums ----------------------------------------------------------------------------

class AlbumSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    created_at = date_time("Creation time", required=True)
    updated_at = date_time("Last rename", required=True)
    photo_count = fields.Integer(required=True)
    visibility = fields.String(required=True, validate=validate.OneOf(VISIBILITIES))


AlbumPageSchema = list_schema("AlbumPageSchema", AlbumSchema, NEXT_PAGE)


class AlbumListArgsSchema(ListArgsSchema):
    pass


class AlbumNameSchema(Schema):
    name = fields.String(required=True, metadata={
        "example": "Holidays 2024",
        "description": f"1 to {MAX_ALBUM_NAME_LENGTH} characters (runs of white space count as one)"})


class AlbumPatchSchema(Schema):
    name = fields.String(metadata={
        "example": "Holidays 2024",
        "description": f"1 to {MAX_ALBUM_NAME_LENGTH} characters (runs of white space count as one)"})
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES), metadata={
        "description": "private, unlisted (its share links work) or public (also on your profile)"})


# -- Share links ---------------------------------------------------------------------------

class ShareCreateSchema(Schema):
    photo_id = object_id("The photo to share (or album_id)")
    album_id = object_id("The album to share (or photo_id)")
    expires_in_days = fields.Integer(allow_none=True, load_default=None, strict=True,
                                     validate=validate.Range(min=1, max=shares.MAX_EXPIRY_DAYS),
                                     metadata={"description": "Omit or null: the link never expires"})
    password = fields.String(allow_none=True, metadata={
        "description": f"Visitors must give it ({shares.MIN_LINK_PASSWORD} to {shares.MAX_LINK_PASSWORD} "
                       "characters); stored hashed"})
    allow_download = fields.Boolean(load_default=False, metadata={
        "description": "Visitors may download the original, re-encoded without metadata"})


class ShareSchema(Schema):
    id = fields.String(required=True)
    target = fields.String(required=True, validate=validate.OneOf((shares.PHOTO, shares.ALBUM)))
    photo_id = fields.String(allow_none=True, required=True)
    album_id = fields.String(allow_none=True, required=True)
    token_hint = fields.String(required=True, metadata={"description": "First characters of the token"})
    created_at = date_time("When the link was made", required=True)
    expires_at = date_time("Expiry, null for never", allow_none=True, required=True)
    revoked_at = date_time("Revocation time, null while not revoked", allow_none=True, required=True)
    has_password = fields.Boolean(required=True)
    allow_download = fields.Boolean(required=True)
    views = fields.Integer(required=True, metadata={"description": "Times the link's page was opened"})
    last_viewed_at = date_time("Last view", allow_none=True, required=True)
    state = fields.String(required=True, validate=validate.OneOf(("active", "expired", "revoked")))


class NewShareSchema(ShareSchema):
    token = fields.String(required=True, metadata={"description": "The link's secret. Shown only in this response."})
    url = fields.String(required=True, metadata={"description": "The link: /s/<token>"})


ShareListSchema = list_schema("ShareListSchema", ShareSchema, "Always null: all links fit in one page")


# -- Captions --------------------------------------------------------------------------

class CaptionUploadSchema(Schema):
    image = ImageFile(required=True, metadata={"description": "JPEG, PNG, WebP, GIF or HEIC; not stored"})


class CaptionResultSchema(Schema):
    job_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("done",)))
    caption = fields.String(required=True)
    alternatives = fields.List(fields.Nested(AlternativeSchema), required=True)
    model_version = fields.String(allow_none=True, required=True)


class CaptionPendingSchema(Schema):
    job_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("pending",)))
