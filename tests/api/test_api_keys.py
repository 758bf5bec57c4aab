"""API keys: created (shown once) and revoked on the account page, stored hashed, sent as X-Api-Key."""

import hashlib

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import MAX_ACTIVE_API_KEYS, api_key_create, api_key_user

from .conftest import error_of, key_client


def test_the_account_page_needs_a_login(db):
    response = Client().get(reverse("accounts:api-keys"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(alice):
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("accounts:api-keys"), {"name": "laptop"})
    assert response.status_code == 200
    raw_key = response.context["new_key"]
    assert len(raw_key) >= 40 and raw_key in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(user=alice)
    assert key.name == "laptop" and key.prefix == raw_key[:8]
    assert key.hashed_key == hashlib.sha256(raw_key.encode()).hexdigest()
    assert raw_key not in {key.hashed_key, key.name}
    page = client.get(reverse("accounts:api-keys")).content.decode()
    assert raw_key not in page and key.prefix in page


def test_the_profile_links_its_owner_to_the_keys(alice):
    client = Client()
    client.force_login(alice)
    assert reverse("accounts:api-keys") in client.get(reverse("front:profile", args=["alice"])).content.decode()


def test_a_key_needs_a_name(alice):
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("accounts:api-keys"), {"name": "  "})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_there_is_a_limit_on_active_keys(alice):
    for number in range(MAX_ACTIVE_API_KEYS):
        api_key_create(user=alice, name=f"k{number}")
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("accounts:api-keys"), {"name": "one more"})
    assert response.status_code == 400
    assert "revoke one" in response.context["error"]


def test_the_owner_revokes_a_key_and_it_stops_working(alice):
    key, raw_key = api_key_create(user=alice, name="ci")
    assert key_client(raw_key).get("/api/v1/me/").status_code == 200
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("accounts:api-key-revoke", args=[key.pk]))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    response = key_client(raw_key).get("/api/v1/me/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_nobody_else_can_revoke_a_key(alice, bob):
    key, _raw = api_key_create(user=alice, name="ci")
    client = Client()
    client.force_login(bob)
    assert client.post(reverse("accounts:api-key-revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_revoking_needs_a_post(alice):
    key, _raw = api_key_create(user=alice, name="ci")
    client = Client()
    client.force_login(alice)
    assert client.get(reverse("accounts:api-key-revoke", args=[key.pk])).status_code == 405


def test_a_key_authenticates_its_user(alice, alice_key):
    response = key_client(alice_key).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {"username": "alice", "is_staff": False, "authenticated_by": "api-key"}
    assert ApiKey.objects.get(user=alice).last_used_at is not None


@pytest.mark.parametrize("bad_key", ["nonsense", "x" * 43, "   ", "é" * 50])
def test_a_bad_key_is_401_with_the_error_body(alice_key, bad_key):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=bad_key)
    for response in (client.get("/api/v1/me/"), client.get("/api/v1/models/"), client.post("/api/v1/lists/", {})):
        assert response.status_code == 401
        assert error_of(response)["code"] == "authentication_failed"
        assert "X-Api-Key" in response["WWW-Authenticate"]


def test_a_key_with_the_right_prefix_but_wrong_rest_is_refused(alice_key):
    assert key_client(alice_key[:8] + "A" * (len(alice_key) - 8)).get("/api/v1/me/").status_code == 401


def test_an_inactive_users_key_is_refused(alice, alice_key):
    alice.is_active = False
    alice.save()
    assert api_key_user(alice_key) is None


def test_last_used_is_written_at_most_once_a_minute(alice, alice_key):
    key_client(alice_key).get("/api/v1/me/")
    first = ApiKey.objects.get(user=alice).last_used_at
    key_client(alice_key).get("/api/v1/me/")
    assert ApiKey.objects.get(user=alice).last_used_at == first
    ApiKey.objects.filter(user=alice).update(last_used_at=timezone.now() - timezone.timedelta(minutes=5))
    key_client(alice_key).get("/api/v1/me/")
    assert ApiKey.objects.get(user=alice).last_used_at > first


def test_session_writes_need_the_csrf_token(alice, toy):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/api/v1/me/").json()["authenticated_by"] == "session"
    response = client.post("/api/v1/lists/", {"name": "mine"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in error_of(response)["message"]
    client.get(reverse("accounts:api-keys"))  # a page that sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/api/v1/lists/", {"name": "mine"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


def test_a_key_needs_no_csrf_token(as_alice, toy):
    client = as_alice
    client.handler.enforce_csrf_checks = True
    assert client.post("/api/v1/lists/", {"name": "mine"}, format="json").status_code == 201


def test_unauthenticated_writes_are_401(anon, toy):
    for method, url in [
        ("post", "/api/v1/explanations/"),
        ("post", "/api/v1/comments/"),
        ("post", "/api/v1/lists/"),
        ("post", "/api/v1/runs/"),
        ("post", "/api/v1/sources/"),
        ("post", "/api/v1/models/"),
    ]:
        response = getattr(anon, method)(url, {}, format="json")
        assert response.status_code == 401, url
        assert error_of(response)["code"] == "not_authenticated"
