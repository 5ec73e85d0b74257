"""The one way stored images are sent (the owner's pages, the API, public share pages):
streamed from the blob store with an ETag (the stored file's version: it changes whenever
the bytes behind the name do), Last-Modified and caching, answering conditional requests
with 304."""

from __future__ import annotations

from flask import current_app, request

from .services.photos import StoredImage

# The owner's images: cached a week, by the browser only.
PRIVATE_MAX_AGE = 7 * 24 * 3600


def image_response(image: StoredImage, *, max_age: int = PRIVATE_MAX_AGE, public: bool = False,
                   headers: dict | None = None):
    response = current_app.response_class(image.stream, mimetype=image.mime_type, direct_passthrough=True)
    response.content_length = image.length
    response.headers.update(headers or {})
    response.set_etag(image.version)
    if public:
        response.cache_control.public = True
    else:
        response.cache_control.private = True
    response.cache_control.max_age = max_age
    if image.uploaded_at:
        response.last_modified = image.uploaded_at
    return response.make_conditional(request)
