"""Absolute links that leave the site (e-mails, invitations, reset links).

Built on PUBLIC_URL when it is configured, so a forged Host header can never put
another site's address into a password-reset e-mail; else on this request's address.
"""

from __future__ import annotations

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
