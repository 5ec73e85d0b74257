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
                func = self.alt_response(status, response=HTTPStatus(status).name)(func)
            return func
        return decorator

    def keyed(self, *statuses: int):
        """Document an operation authenticated by API key, with its error responses
        (401, 429 and 503 apply to every such operation)."""
        def decorator(func):
            func = self.errors(*sorted({401, 429, 503, *statuses}))(func)
            return self.doc(security=KEY_SECURITY)(func)
        return decorator

    def basic(self, *statuses: int, also_key: bool = False):
        def decorator(func):
            func = self.errors(*sorted({401, 429, 503, *statuses}))(func)
            return self.doc(security=BASIC_SECURITY + (KEY_SECURITY if also_key else []))(func)
        return decorator


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None  # every error status is documented explicitly

    def _register_error_handlers(self):
        pass  # see the module docstring
