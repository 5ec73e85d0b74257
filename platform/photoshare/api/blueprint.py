"""The API's flask-smorest Blueprint and Api classes.

- `multipart` argument location: files and form fields of one multipart/form-data
  body, validated by one schema and documented as one requestBody.
- Errors: flask-smorest's own app-wide HTTPException handler is not installed (it
  would answer the website's errors too); photoshare.api.errors handles API errors per
  blueprint, in the `{"error": {"code", "message"}}` shape.
"""

from __future__ import annotations

from http import HTTPStatus

import flask_smorest
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict

from .auth import BASIC_SECURITY, KEY_SECURITY
from .schemas import ErrorSchema

# 429 (rate limits) and 503 (captioning_busy) may say when to try again.
RETRY_AFTER_STATUSES = (429, 503)
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before trying again (when known)",
                                      "schema": {"type": "integer", "minimum": 0}}}


class ApiParser(FlaskParser):
    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req, schema):
        return MultiDictProxy(CombinedMultiDict([req.files, req.form]), schema)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }

    def errors(self, *statuses: int):
        """Document error responses (the shared ErrorSchema components)."""
        def decorator(func):
            for status in reversed(statuses):
                if status in RETRY_AFTER_STATUSES:
                    func = self.alt_response(status, schema=ErrorSchema, headers=RETRY_AFTER_HEADER)(func)
                else:
                    func = self.alt_response(status, response=HTTPStatus(status).name)(func)
            return func
        return decorator

    # Errors any authenticated operation may answer: bad credentials, a body over the
    # request size limit, rate limits, a backend outage.
    COMMON_ERRORS = (401, 413, 429, 503)

    def keyed(self, *statuses: int):
        """Document an operation authenticated by API key, with its error responses
        (COMMON_ERRORS apply to every such operation)."""
        def decorator(func):
            func = self.errors(*sorted({*self.COMMON_ERRORS, *statuses}))(func)
            return self.doc(security=KEY_SECURITY)(func)
        return decorator

    def basic(self, *statuses: int, also_key: bool = False):
        def decorator(func):
            func = self.errors(*sorted({*self.COMMON_ERRORS, *statuses}))(func)
            return self.doc(security=BASIC_SECURITY + (KEY_SECURITY if also_key else []))(func)
        return decorator


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None  # every error status is documented explicitly

    def _register_error_handlers(self):
        pass  # see the module docstring
