"""Repositories: one module per collection, the only code that reads and writes it.

    photos       the `photos` collection and the caption state machine
    photo_files  the image files (the blob store: files under MEDIA_ROOT, or GridFS)
    albums       `albums`
    users        `users`
    api_keys     `api_keys`
    share_links  `share_links` (search_tokens: the photos' search words, no collection)
    site_settings, invites, password_resets, exports   administration (issue 14)
    sessions     `sessions`: server-side login sessions (issue 11)

Services (photoshare.services) call these; nothing above the services touches the
store. Functions take the pymongo Database first and return documents, None or a
bool; they raise no HTTP-flavoured errors (the services decide what "not found" means).
"""

from __future__ import annotations

from pymongo.database import Database

from . import albums, api_keys, exports, invites, password_resets, photo_files, photos, site_settings, users
from . import sessions, share_links

__all__ = ["albums", "api_keys", "ensure_indexes", "exports", "invites", "password_resets", "photo_files", "photos",
           "sessions", "site_settings", "users"]


def ensure_indexes(db: Database) -> None:
    """Create the index behind every query of every repository (idempotent)."""
    for repository in (users, photos, albums, photo_files, api_keys, site_settings, invites, password_resets,
                       exports):
        repository.ensure_indexes(db)
    # Start-up is also when an install from before roles gets its administrator.
    if site_settings.adopt_existing_install(db, lambda: users.oldest_id(db)):
        users.set_role(db, site_settings.first_admin_user(db), users.ADMIN)
    share_links.ensure_indexes(db)
    sessions.ensure_indexes(db)
