"""Comments (post, reply, edit and delete your own) and lists (CRUD your own, add and remove features)."""

from datetime import timedelta

from django.test import override_settings
from django.utils import timezone

from explanations.models import Comment, FeatureList, FeatureListItem

from .conftest import error_of


def test_comments_filter_by_feature_and_author(anon, explained):
    body = anon.get(f"/api/v1/comments/?feature={explained['feature'].pk}").json()
    assert [c["body"] for c in body["results"]] == ["Fires on *w* tokens."]
    assert anon.get("/api/v1/comments/?author=bob").json()["results"] == []


def test_posting_a_comment_and_a_reply(as_bob, explained):
    response = as_bob.post(
        "/api/v1/comments/",
        {"feature": explained["feature"].pk, "body": "About the human one", "explanation": explained["human"].pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["explanation"] == explained["human"].pk and response.json()["author"] == "bob"
    reply = as_bob.post("/api/v1/comments/", {"parent": explained["comment"].pk, "body": "agreed"}, format="json")
    assert reply.status_code == 201
    assert reply.json()["feature"] == explained["feature"].pk and reply.json()["parent"] == explained["comment"].pk


def test_a_comment_needs_a_feature_or_a_parent(as_bob, explained):
    response = as_bob.post("/api/v1/comments/", {"body": "floating"}, format="json")
    assert response.status_code == 400
    assert "feature" in error_of(response)["details"]
    assert as_bob.post("/api/v1/comments/", {"parent": 10**12, "body": "x"}, format="json").status_code == 400
    response = as_bob.post(
        "/api/v1/comments/", {"feature": explained["feature"].pk, "body": "x", "explanation": 10**12}, format="json"
    )
    assert response.status_code == 400


def test_commenting_on_a_hidden_explanation_is_refused(as_bob, explained):
    response = as_bob.post(
        "/api/v1/comments/",
        {"feature": explained["feature"].pk, "body": "x", "explanation": explained["hidden"].pk},
        format="json",
    )
    assert response.status_code == 400


def test_editing_your_own_comment(as_alice, explained):
    url = f"/api/v1/comments/{explained['comment'].pk}/"
    response = as_alice.patch(url, {"body": "Fires on w."}, format="json")
    assert response.status_code == 200
    assert response.json()["body"] == "Fires on w." and response.json()["edited_at"]


def test_editing_someone_elses_comment_is_403(as_bob, explained):
    response = as_bob.patch(f"/api/v1/comments/{explained['comment'].pk}/", {"body": "mine now"}, format="json")
    assert response.status_code == 403
    assert "your own" in error_of(response)["message"]
    assert as_bob.delete(f"/api/v1/comments/{explained['comment'].pk}/").status_code == 403


def test_editing_after_the_window_is_403(as_alice, explained):
    Comment.objects.filter(pk=explained["comment"].pk).update(created_at=timezone.now() - timedelta(days=1))
    assert (
        as_alice.patch(f"/api/v1/comments/{explained['comment'].pk}/", {"body": "late"}, format="json").status_code
        == 403
    )


def test_deleting_your_own_comment_keeps_its_place(as_alice, anon, explained):
    url = f"/api/v1/comments/{explained['comment'].pk}/"
    assert as_alice.delete(url).status_code == 204
    body = anon.get(url).json()
    assert body["deleted"] is True and body["body"] == ""


@override_settings(WIKI_RATE_LIMITS={"comment": "1/m"})
def test_the_wikis_comment_limit_applies(as_bob, explained):
    payload = {"feature": explained["feature"].pk, "body": "one"}
    assert as_bob.post("/api/v1/comments/", payload, format="json").status_code == 201
    response = as_bob.post("/api/v1/comments/", payload, format="json")
    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"


def test_list_lifecycle(as_alice, toy):
    response = as_alice.post("/api/v1/lists/", {"name": "Cats", "description": "feline features"}, format="json")
    assert response.status_code == 201, response.content
    list_id = response.json()["id"]
    assert response.json()["owner"] == "alice" and response.json()["is_public"] is False
    feature = toy["features"][2]
    item = as_alice.post(f"/api/v1/lists/{list_id}/items/", {"feature": feature.pk, "note": "maybe"}, format="json")
    assert item.status_code == 201
    assert item.json()["feature"]["index"] == 2 and item.json()["note"] == "maybe"
    items = as_alice.get(f"/api/v1/lists/{list_id}/items/").json()["results"]
    assert [i["feature"]["id"] for i in items] == [feature.pk]
    assert as_alice.get(f"/api/v1/lists/{list_id}/").json()["item_count"] == 1
    patched = as_alice.patch(f"/api/v1/lists/{list_id}/", {"is_public": True}, format="json").json()
    assert patched["is_public"] is True and patched["name"] == "Cats"
    assert as_alice.delete(f"/api/v1/lists/{list_id}/items/{feature.pk}/").status_code == 204
    assert not FeatureListItem.objects.exists()
    assert as_alice.delete(f"/api/v1/lists/{list_id}/").status_code == 204
    assert not FeatureList.objects.exists()


def test_a_duplicate_list_name_is_a_400(as_alice, toy):
    as_alice.post("/api/v1/lists/", {"name": "Cats"}, format="json")
    response = as_alice.post("/api/v1/lists/", {"name": "Cats"}, format="json")
    assert response.status_code == 400
    assert "name" in error_of(response)["details"]


def test_another_users_private_list_is_not_found(as_alice, as_bob, anon, toy):
    list_id = as_alice.post("/api/v1/lists/", {"name": "Secret"}, format="json").json()["id"]
    for client in (as_bob, anon):
        assert client.get(f"/api/v1/lists/{list_id}/").status_code == 404
        assert client.get(f"/api/v1/lists/{list_id}/items/").status_code == 404
    assert as_bob.patch(f"/api/v1/lists/{list_id}/", {"name": "Mine"}, format="json").status_code == 404
    assert as_bob.get("/api/v1/lists/").json()["results"] == []


def test_another_users_public_list_is_read_only(as_alice, as_bob, toy):
    list_id = as_alice.post("/api/v1/lists/", {"name": "Open", "is_public": True}, format="json").json()["id"]
    assert as_bob.get(f"/api/v1/lists/{list_id}/").status_code == 200
    assert [entry["name"] for entry in as_bob.get("/api/v1/lists/?owner=alice").json()["results"]] == ["Open"]
    response = as_bob.patch(f"/api/v1/lists/{list_id}/", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    item = {"feature": toy["features"][0].pk}
    assert as_bob.post(f"/api/v1/lists/{list_id}/items/", item, format="json").status_code == 403
    assert as_bob.delete(f"/api/v1/lists/{list_id}/items/{toy['features'][0].pk}/").status_code == 403
    assert as_bob.delete(f"/api/v1/lists/{list_id}/").status_code == 403
    assert FeatureList.objects.filter(pk=list_id).exists()


def test_removing_a_feature_with_an_absurd_id_is_a_404(as_alice, toy):
    list_id = as_alice.post("/api/v1/lists/", {"name": "L"}, format="json").json()["id"]
    assert as_alice.delete(f"/api/v1/lists/{list_id}/items/9999999999999999999/").status_code == 404


def test_a_json_body_with_a_key_the_endpoint_does_not_read_is_refused_naming_it(as_alice, explained):
    response = as_alice.post("/api/v1/lists/", {"name": "Cats", "descripton": "typo"}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert "descripton" in error["details"] and "Unknown field" in error["details"]["descripton"][0]
    assert "description" in error["details"]["descripton"][0], "it says which keys it reads"
    assert not FeatureList.objects.exists(), "nothing is written"
