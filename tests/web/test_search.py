"""Search: by word, whatever the order or the word form, over the AI caption, the user's
caption and album names; the same in the dashboard, the API (`q`) and /explore (public
photos only, their shown captions only); never another user's non-public photo."""

from __future__ import annotations

import re

import pytest

from photoshare.repositories.search_tokens import query_tokens, tokenize
from photoshare.services import search

from tests.support.api_clients import ApiClient, make_key
from tests.support.sharing import set_visibility, text, upload_captioned


def ids_on(page: str) -> list[str]:
    return re.findall(r'data-photo-id="([0-9a-f]{24})"', page)


def dashboard(browser, query: str) -> list[str]:
    return ids_on(text(browser.client.get("/", query_string={"q": query})))


@pytest.mark.parametrize("text_in, tokens", [
    ("A dog runs through the grass", ["dog", "run", "through", "grass"]),
    ("Dogs RUNNING", ["dog", "run"]),
    ("Café crème, children's bikes!", ["cafe", "creme", "children", "bike"]),
    ("the a of", []),
])
def test_tokens_fold_case_accents_stop_words_and_word_forms(text_in, tokens):
    assert tokenize(text_in) == tokens


def test_query_tokens_are_bounded():
    assert len(query_tokens(" ".join(f"word{i}" for i in range(50)))) == 8


@pytest.fixture
def library(user, db):
    ada_dog = upload_captioned(user, db, "a dog runs through the grass", name="one.png")
    ada_cat = upload_captioned(user, db, "a cat sits on a red sofa", name="two.png", color=(10, 200, 10))
    return user, ada_dog, ada_cat


def test_word_order_and_plurals_do_not_matter(library):
    ada, dog, cat = library
    for query in ("dogs running", "grass dog", "RUNNING DOGS", "runs"):
        assert dashboard(ada, query) == [str(dog["_id"])], query
    assert dashboard(ada, "dog sofa") == []  # every word must match
    assert dashboard(ada, "the") == [] and "No photo matches." in text(ada.client.get("/?q=the"))
    assert sorted(dashboard(ada, "")) == sorted([str(dog["_id"]), str(cat["_id"])])


def test_the_users_caption_and_album_names_are_searched_and_kept_up_to_date(library, db):
    ada, dog, cat = library
    ada.post(f"/photos/{cat['_id']}/caption", {"caption": "Our beaches at noon"}, page=f"/photos/{cat['_id']}")
    assert dashboard(ada, "beach") == [str(cat["_id"])]
    assert dashboard(ada, "sofa") == [str(cat["_id"])]  # the AI caption is still searched

    album_id = ada.post("/albums", {"name": "Summer Holidays"}, page="/albums").headers["Location"].rsplit("/", 1)[1]
    ada.post(f"/photos/{dog['_id']}/albums", {"album_id": album_id}, page=f"/photos/{dog['_id']}")
    assert dashboard(ada, "holiday") == [str(dog["_id"])]
    ada.post(f"/albums/{album_id}/rename", {"name": "Winter trip"}, page=f"/albums/{album_id}")
    assert dashboard(ada, "holiday") == [] and dashboard(ada, "winter trips") == [str(dog["_id"])]
    ada.post(f"/photos/{dog['_id']}/albums/{album_id}/remove", page=f"/photos/{dog['_id']}")
    assert dashboard(ada, "winter") == []
    ada.post(f"/photos/{dog['_id']}/albums", {"album_id": album_id}, page=f"/photos/{dog['_id']}")
    assert dashboard(ada, "winter") == [str(dog["_id"])]
    ada.post(f"/albums/{album_id}/delete", page=f"/albums/{album_id}")
    assert dashboard(ada, "winter") == []
    assert db.photos.find_one({"_id": dog["_id"]})["album_tokens"] == []


def test_another_users_photos_are_never_found_unless_public_and_then_only_on_explore(library, other_browser, db,
                                                                                     app):
    ada, dog, _ = library
    assert other_browser.signup(email="bob@example.com", name="Bob").status_code == 303
    bobs = upload_captioned(other_browser, db, "a dog runs on the beach", name="bob.png")
    assert dashboard(ada, "dog") == [str(dog["_id"])]
    visitor = app.test_client()
    explore = lambda query: ids_on(text(visitor.get("/explore", query_string={"q": query})))  # noqa: E731
    assert explore("dog") == []  # nothing is public yet
    for visibility in ("unlisted", "private"):
        set_visibility(other_browser, bobs["_id"], visibility)
        assert dashboard(ada, "dog") == [str(dog["_id"])] and explore("dog") == []
    set_visibility(other_browser, bobs["_id"], "public")
    assert dashboard(ada, "dog") == [str(dog["_id"])]  # the dashboard is one's own library
    assert explore("dogs running") == [str(bobs["_id"])]
    assert explore("cats") == []


def test_explore_searches_only_what_others_are_shown(library, app):
    ada, dog, _ = library
    album_id = ada.post("/albums", {"name": "Secret affair"}, page="/albums").headers["Location"].rsplit("/", 1)[1]
    ada.post(f"/photos/{dog['_id']}/albums", {"album_id": album_id}, page=f"/photos/{dog['_id']}")
    ada.post(f"/photos/{dog['_id']}/caption", {"caption": "Rex in the park"}, page=f"/photos/{dog['_id']}")
    set_visibility(ada, dog["_id"], "public")
    visitor = app.test_client()
    found = lambda query: ids_on(text(visitor.get("/explore", query_string={"q": query})))  # noqa: E731
    assert found("rex park") == [str(dog["_id"])]
    assert found("secret affair") == []  # album names are the owner's
    assert found("grass") == []  # an AI caption replaced by the user's is not shown, so not searched
    assert found("one") == []  # nor is the file name
    assert dashboard(ada, "secret") == [str(dog["_id"])]


def test_the_api_searches_the_same_way(library, app, db):
    ada, dog, _ = library
    owner = db.users.find_one({"email": "ada@example.com"})
    api = ApiClient(app.test_client(), make_key(db, owner), owner)
    items = api.get("/api/v1/photos", query_string={"q": "Dogs running"}).get_json()["items"]
    assert [item["id"] for item in items] == [str(dog["_id"])]


def test_backfill_gives_old_photos_their_tokens_and_is_idempotent(library, db, runner):
    ada, dog, cat = library
    album_id = ada.post("/albums", {"name": "Pets"}, page="/albums").headers["Location"].rsplit("/", 1)[1]
    ada.post(f"/photos/{cat['_id']}/albums", {"album_id": album_id}, page=f"/photos/{cat['_id']}")
    before = {p["_id"]: (p["search_tokens"], p["caption_tokens"]) for p in db.photos.find({})}
    db.photos.update_many({}, {"$unset": {"search_tokens": "", "caption_tokens": "", "album_tokens": ""}})
    assert dashboard(ada, "dog") == []
    result = runner.invoke(args=["backfill-search"])  # flask --app photoshare backfill-search
    assert result.exit_code == 0 and "written for 2 photos" in result.output, result.output
    assert {p["_id"]: (p["search_tokens"], p["caption_tokens"]) for p in db.photos.find({})} == before
    assert search.backfill(db) == 0
    assert dashboard(ada, "pets") == [str(cat["_id"])]


def test_search_results_page_newest_first(library, app, db):
    ada, dog, _ = library
    newer = upload_captioned(ada, db, "two dogs run on the beach", name="three.png")
    app.config["PHOTOS_PER_PAGE"] = 1
    first = text(ada.client.get("/?q=dog"))
    assert ids_on(first) == [str(newer["_id"])] and 'rel="next" href="/?page=2&amp;q=dog"' in first
    second = text(ada.client.get("/?q=dog&page=2"))
    assert ids_on(second) == [str(dog["_id"])] and 'rel="next"' not in second and 'rel="prev"' in second
