"""The store unreachable (issue 11.3): a logged-in person gets the 503 page, the API a
503 JSON answer, never a bare 500. A real outage: the same deployment (secret key,
Redis) pointed at a port where no store listens."""

from __future__ import annotations

import pytest

from photoshare import create_app
from photoshare.embedded_store import free_port
from tests.support.api_clients import bearer, make_key
from tests.support.sessions import Browser


@pytest.fixture
def store_down_app(settings):
    app = create_app({**settings, "MONGO_URI": f"mongodb://127.0.0.1:{free_port()}/down",
                      "MONGO_TIMEOUT_MS": 300, "TESTING": True})
    yield app
    app.extensions["photoshare.backends"].close()


@pytest.mark.parametrize("page", ["/", "/albums", "/account", "/explore"])
def test_a_logged_in_user_gets_the_503_page(user, store_down_app, page):
    client = store_down_app.test_client()
    client.set_cookie("session", user.client.get_cookie("session").value)
    response = client.get(page)
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    body = response.get_data(as_text=True)
    assert "temporarily unavailable" in body and "<html" in body.lower()
    assert "Traceback" not in body and "ServerSelectionTimeoutError" not in body
    assert "no-store" in response.headers["Cache-Control"]


def test_a_logged_in_users_form_post_gets_the_503_page(user, store_down_app):
    client = store_down_app.test_client()
    client.set_cookie("session", user.client.get_cookie("session").value)
    # The CSRF token is checked before anything else; a real one from the page before.
    token = user.token("/albums")
    response = client.post("/albums", data={"name": "Holiday", "csrf_token": token})
    assert response.status_code == 503


def test_the_api_answers_503_json(db, store_down_app):
    from tests.support.api_clients import make_account

    key = make_key(db, make_account(db, "ada.outage@example.com"))
    response = store_down_app.test_client().get("/api/v1/photos", headers=bearer(key))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"


def test_an_anonymous_visitor_gets_the_503_page_too(store_down_app):
    response = store_down_app.test_client().get("/explore")
    assert response.status_code == 503 and "temporarily unavailable" in response.get_data(as_text=True)


def test_logging_in_or_out_while_the_store_is_down_is_a_503_not_a_half_done_session(user, store_down_app, db):
    cookie = user.client.get_cookie("session").value
    token = user.token("/logout")
    client = store_down_app.test_client()
    client.set_cookie("session", cookie)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 503
    assert db.sessions.count_documents({}) == 1  # not ended: the person is told, and logs out again later
    visitor = Browser(store_down_app.test_client())
    assert visitor.client.get("/login").status_code == 200  # the form needs no store
    assert visitor.login().status_code == 503
    assert user.client.get("/albums").status_code == 200  # the real store: the session lives on
