"""Search tokens: the normalised words a photo is found by (no collection of its own).

A photo document carries two arrays of tokens, each under a multikey index
(repositories.photos.ensure_indexes), maintained by repositories.photos whenever one
of their inputs changes:

    search_tokens   the owner's search: AI caption, user caption, names of its albums,
                    file name (without its extension)
    caption_tokens  the public search (/explore): only the caption people are shown
                    (the user's caption, else the AI's), so that a search over public
                    photos never reveals an album name or a replaced AI caption

A token is a word lower-cased, accents folded ("Café" → "cafe") and stemmed with the
Snowball English stemmer, so that word forms meet: "dogs" → "dog", "runs" and
"running" → "run", "riding" → "ride". Queries go through the very same function, and
a query matches a photo holding all of its tokens, in any order. Words of one
or two letters and the commonest English stop words ("a", "the", "in"...) are
dropped: they would match nearly every photo and only slow the index down.

This module is pure text processing, at the repository layer so that the photo
repository can keep the arrays right inside its own writes.
"""

from __future__ import annotations

import os
import re
import unicodedata
from functools import lru_cache

import snowballstemmer

# Inputs of the arrays: every write that changes one of these refreshes the tokens.
TOKEN_INPUTS = ("ai_caption", "user_caption", "album_tokens", "filename")
MAX_QUERY_TOKENS = 8  # a query of more words is cut (each one is an index lookup)

STOP_WORDS = frozenset("""
a an and are as at be by for from has her his in into is it its of on or over the their
there this to was were with up
""".split())

_WORD = re.compile(r"[a-z0-9]+")
_stemmer = snowballstemmer.stemmer("english")


def fold(text: str) -> str:
    """Lower-case, accents removed: "Crème Brûlée" → "creme brulee"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=20_000)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def tokenize(text: str | None) -> list[str]:
    """The distinct tokens of `text`, in order of first appearance."""
    tokens: dict[str, None] = {}
    for word in _WORD.findall(fold(text or "")):
        if len(word) < 2 or word in STOP_WORDS:
            continue
        tokens[_stem(word)] = None
    return list(tokens)


def query_tokens(query: str | None) -> list[str]:
    """The tokens a search must all find (at most MAX_QUERY_TOKENS); [] when the query
    has no searchable word."""
    return tokenize((query or "")[:200])[:MAX_QUERY_TOKENS]


def displayed_caption(photo: dict) -> str:
    return photo.get("user_caption") or photo.get("ai_caption") or ""


def photo_tokens(photo: dict) -> dict:
    """The token arrays of a photo document, from its TOKEN_INPUTS."""
    stem = os.path.splitext(photo.get("filename") or "")[0]
    own = tokenize(f"{photo.get('ai_caption') or ''} {photo.get('user_caption') or ''} {stem}")
    merged = dict.fromkeys(own + list(photo.get("album_tokens") or []))
    return {"search_tokens": sorted(merged), "caption_tokens": sorted(tokenize(displayed_caption(photo)))}


def album_tokens(names) -> list[str]:
    """The tokens of a photo's album names."""
    return sorted({token for name in names for token in tokenize(name)})
