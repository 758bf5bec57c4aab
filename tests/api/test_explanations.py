"""Explanations through the API: list and filter, write, revise (with conflicts), revert, scores, votes."""

from django.test import override_settings

from accounts.models import Ban
from explanations.models import Explanation, FeatureLock, Vote

from .conftest import error_of


def test_explanations_filter_by_model_source_author_and_method(anon, toy, explained):
    def texts(query: str) -> set[str]:
        response = anon.get(f"/api/v1/explanations/?{query}")
        assert response.status_code == 200, response.content
        return {e["text"] for e in response.json()["results"]}

    both = {"the letter w before a digit", "tokens after CLS"}
    assert texts("model=toy") == both
    assert texts("model=toy&source=0-mlp&index=3") == both
    assert texts(f"feature={explained['feature'].pk}") == both
    assert texts("model=other") == set()
    assert texts("author=alice") == {"the letter w before a digit"}
    assert texts("method=token-stats") == {"tokens after CLS"}
    assert texts("machine_written=true") == {"tokens after CLS"}
    assert texts("source=1-mlp") == set()


def test_a_hidden_explanation_is_not_found(anon, explained):
    response = anon.get(f"/api/v1/explanations/{explained['hidden'].pk}/")
    assert response.status_code == 404
    error_of(response)


def test_an_explanation_without_a_text_is_shown_to_staff_only(anon, as_staff, explained):
    # Only the admin makes one (an explanation added there without a revision, or whose revision was deleted).
    blank = Explanation.objects.create(feature=explained["feature"], method="token-stats")
    assert anon.get(f"/api/v1/explanations/{blank.pk}/").status_code == 404
    assert as_staff.get(f"/api/v1/explanations/{blank.pk}/").json()["text"] == ""
    shown = anon.get(f"/api/v1/features/{explained['feature'].pk}/").json()["explanations"]
    assert blank.pk not in {explanation["id"] for explanation in shown}
    shown_to_staff = as_staff.get(f"/api/v1/features/{explained['feature'].pk}/").json()["explanations"]
    assert blank.pk in {explanation["id"] for explanation in shown_to_staff}


def test_writing_an_explanation(as_alice, toy):
    feature = toy["features"][5]
    response = as_alice.post(
        "/api/v1/explanations/",
        {"feature": feature.pk, "text": "  the   word cat ", "rule": "*cat*", "message": "first go"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["text"] == "the word cat" and body["author"] == "alice" and body["rule"] == "*cat*"
    assert body["model"] == "toy" and body["index"] == 5
    explanation = Explanation.objects.get(pk=body["id"])
    assert explanation.revisions.get().message == "first go"


def test_a_bad_rule_is_a_400_on_the_rule(as_alice, toy):
    response = as_alice.post(
        "/api/v1/explanations/", {"feature": toy["features"][5].pk, "text": "cats", "rule": "[unclosed"}, format="json"
    )
    assert response.status_code == 400
    assert "rule" in error_of(response)["details"]


def test_a_missing_feature_is_a_400(as_alice, toy):
    response = as_alice.post("/api/v1/explanations/", {"feature": 10**9, "text": "cats"}, format="json")
    assert response.status_code == 400
    assert "feature" in error_of(response)["details"]


def test_a_locked_feature_refuses_explanations(as_alice, toy, staff):
    FeatureLock.objects.create(feature=toy["features"][5], locked_by=staff, reason="edit war")
    response = as_alice.post("/api/v1/explanations/", {"feature": toy["features"][5].pk, "text": "cats"}, format="json")
    assert response.status_code == 403
    assert "edit war" in error_of(response)["message"]


def test_a_banned_user_cannot_write(as_alice, alice, toy):
    Ban.objects.create(user=alice)
    response = as_alice.post("/api/v1/explanations/", {"feature": toy["features"][5].pk, "text": "cats"}, format="json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_revising_adds_a_revision_and_detects_conflicts(as_alice, as_bob, explained):
    explanation = explained["human"]
    first = explanation.current_revision_id
    response = as_bob.post(
        f"/api/v1/explanations/{explanation.pk}/revisions/",
        {"text": "w then a digit", "message": "shorter", "base_revision": first},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["author"] == "bob" and response.json()["previous"] == first
    stale = as_alice.post(
        f"/api/v1/explanations/{explanation.pk}/revisions/", {"text": "mine", "base_revision": first}, format="json"
    )
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "conflict"
    same = as_alice.post(f"/api/v1/explanations/{explanation.pk}/revisions/", {"text": "w then a digit"}, format="json")
    assert same.status_code == 400
    revisions = as_alice.get(f"/api/v1/explanations/{explanation.pk}/revisions/").json()["results"]
    assert [r["text"] for r in revisions] == ["w then a digit", "the letter w before a digit"]


def test_reverting_makes_an_old_text_current(as_bob, explained):
    explanation = explained["human"]
    first = explanation.current_revision_id
    as_bob.post(f"/api/v1/explanations/{explanation.pk}/revisions/", {"text": "vandalism"}, format="json")
    response = as_bob.post(f"/api/v1/explanations/{explanation.pk}/revert/", {"revision": first}, format="json")
    assert response.status_code == 201
    assert as_bob.get(f"/api/v1/explanations/{explanation.pk}/").json()["text"] == "the letter w before a digit"
    other = as_bob.post(f"/api/v1/explanations/{explanation.pk}/revert/", {"revision": 10**12}, format="json")
    assert other.status_code == 404


def test_unauthenticated_revisions_are_401(anon, explained):
    response = anon.post(f"/api/v1/explanations/{explained['human'].pk}/revisions/", {"text": "x"}, format="json")
    assert response.status_code == 401


def test_revising_a_hidden_explanation_is_a_404(as_bob, explained):
    response = as_bob.post(f"/api/v1/explanations/{explained['hidden'].pk}/revisions/", {"text": "x"}, format="json")
    assert response.status_code == 404


def test_scores_are_listed_newest_first(anon, explained):
    body = anon.get(f"/api/v1/explanations/{explained['human'].pk}/scores/").json()
    assert [(s["scorer"], s["value"]) for s in body["results"]] == [
        ("detection", 0.75),
        ("simulation", 0.5),
        ("simulation", 0.25),
    ]


def test_voting_up_down_and_withdrawing(as_bob, bob, explained):
    url = f"/api/v1/explanations/{explained['human'].pk}/vote/"
    assert as_bob.put(url, {"value": 1}, format="json").json() == {"score": 1, "value": 1}
    assert as_bob.put(url, {"value": -1}, format="json").json() == {"score": -1, "value": -1}
    assert Vote.objects.get(user=bob).value == -1
    assert as_bob.delete(url).json() == {"score": 0, "value": 0}
    assert not Vote.objects.exists()


def test_votes_are_validated_and_need_a_login(anon, as_bob, explained):
    url = f"/api/v1/explanations/{explained['human'].pk}/vote/"
    assert as_bob.put(url, {"value": 5}, format="json").status_code == 400
    assert anon.put(url, {"value": 1}, format="json").status_code == 401
    hidden = f"/api/v1/explanations/{explained['hidden'].pk}/vote/"
    assert as_bob.put(hidden, {"value": 1}, format="json").status_code == 404


@override_settings(WIKI_RATE_LIMITS={"vote": "2/m"})
def test_the_wikis_vote_limit_applies(as_bob, explained):
    url = f"/api/v1/explanations/{explained['human'].pk}/vote/"
    assert as_bob.put(url, {"value": 1}, format="json").status_code == 200
    assert as_bob.put(url, {"value": -1}, format="json").status_code == 200
    response = as_bob.put(url, {"value": 1}, format="json")
    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "throttled" and error["details"]["retry_after"] > 0
    assert int(response["Retry-After"]) > 0
