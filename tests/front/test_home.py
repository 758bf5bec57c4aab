from datetime import timedelta

from django.utils import timezone

from explanations.models import Comment, ExplanationRevision
from features.models import Feature
from tests.features.wiki_data import add_comment, add_explanation, get_feature, make_user


def feature_links(content: str) -> list[str]:
    section = content.split("Recently active features", 1)[1]
    return [line.split('href="', 1)[1].split('"', 1)[0] for line in section.splitlines() if "<li><a href=" in line]


def test_it_shows_how_to_build_the_demo_when_there_are_no_models(db, client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"No models yet" in response.content
    assert b"make demo" in response.content


def test_it_lists_models_with_their_source_and_feature_counts(computed_run, client):
    response = client.get("/")
    content = response.content.decode()
    assert '<a href="/tiny-bert/">tiny-bert</a>' in content
    # Labelled cells: on a phone the table becomes a card per model, each value with its name (table.stack).
    assert '<td class="num" data-label="Sources">2</td>' in content
    assert '<td class="num" data-label="Features">96</td>' in content
    assert "model/source/index" in content


def test_it_fills_recent_features_with_the_strongest_of_the_latest_run(computed_run, client):
    strongest = Feature.objects.order_by("-max_activation").first()
    links = feature_links(client.get("/").content.decode())
    assert len(links) == 12
    assert links[0] == strongest.get_absolute_url()


def test_recently_explained_and_commented_features_come_first_latest_first(computed_run, client):
    explained = get_feature("2-mlp", 7)
    commented = get_feature("0-mlp", 3)
    alice = make_user("alice")
    explanation = add_explanation(explained, "fires on cats", author=alice)
    comment = add_comment(commented, alice, "interesting")
    now = timezone.now()
    ExplanationRevision.objects.filter(explanation=explanation).update(created_at=now - timedelta(hours=1))
    Comment.objects.filter(pk=comment.pk).update(created_at=now)

    links = feature_links(client.get("/").content.decode())
    assert links[:2] == [commented.get_absolute_url(), explained.get_absolute_url()]
    assert len(links) == 12
    assert len(set(links)) == 12


def test_hidden_explanations_and_deleted_comments_do_not_make_a_feature_active(computed_run, client):
    quiet = Feature.objects.order_by("max_activation").first()
    alice = make_user("alice")
    add_explanation(quiet, "spam", author=alice, hidden=True)
    add_comment(quiet, alice, "gone", deleted=True)
    assert quiet.get_absolute_url() not in feature_links(client.get("/").content.decode())


def test_it_shows_explanations_beside_features_and_where_to_start(computed_run, client):
    alice, bob = make_user("alice"), make_user("bob")
    scored = get_feature("2-mlp", 7)
    add_explanation(scored, "fires on cats", author=alice, best_score=0.9)
    add_explanation(get_feature("2-mlp", 8), "a weaker idea", author=alice, best_score=0.3)
    discussed = get_feature("0-mlp", 3)
    add_explanation(discussed, "commas in lists", author=bob)
    for number in range(3):
        add_comment(discussed, bob, f"what about semicolons {number}?")
    add_comment(discussed, alice, "hidden remark", hidden=True)

    content = client.get("/").content.decode()

    best = content.split("Best-explained features", 1)[1].split("</section>", 1)[0]
    assert best.index("fires on cats") < best.index("a weaker idea") and "best score 0.900" in best
    discussion = content.split("Most discussed", 1)[1].split("</section>", 1)[0]
    assert discussed.get_absolute_url() in discussion and "commas in lists" in discussion
    assert "3 comments" in discussion, "hidden comments are not counted"
    recent = content.split("Recently active features", 1)[1]
    assert "fires on cats" in recent, "recent features show what they do, not bare ids"
    assert 'href="/tiny-bert/0-mlp/"' in content, "each model lists its sources"
    assert 'href="/text-features/tiny-bert/"' in content and "/search/?mode=semantic" in content
