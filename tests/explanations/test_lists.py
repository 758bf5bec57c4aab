"""Lists of features (public or private, with a note per feature), bookmarks, and watching a feature."""

from django.urls import reverse

from accounts.models import Ban
from explanations.models import Bookmark, FeatureList, FeatureListItem, Watch
from explanations.services import lists as list_services
from features.models import ActivationExample, ContextWindow, Feature, pack_floats

from .conftest import explain, login


def add_to_list(client, feature, **data):
    address = [feature.source.model.slug, feature.source.slug, feature.index]
    return client.post(reverse("explanations:add-to-list", args=address), data)


def test_a_user_makes_a_list_and_lands_on_its_page(db, alice):
    response = login(alice).post(
        reverse("explanations:list-new"), {"name": "Colour features", "description": "", "is_public": "on"}
    )

    feature_list = FeatureList.objects.get()
    assert response.status_code == 302 and response.url == f"/lists/{feature_list.pk}/"
    assert (feature_list.owner, feature_list.name, feature_list.is_public) == (alice, "Colour features", True)


def test_list_names_are_unique_per_owner(db, alice, bob):
    list_services.list_create(owner=alice, name="Mine")

    response = login(alice).post(reverse("explanations:list-new"), {"name": "Mine"})

    assert "You already have a list called &#x27;Mine&#x27;." in response.text
    assert login(bob).post(reverse("explanations:list-new"), {"name": "Mine"}).status_code == 302
    assert FeatureList.objects.count() == 2


def test_features_from_any_model_are_added_from_their_pages_with_a_note(feature, other_feature, alice, client):
    feature_list = list_services.list_create(owner=alice, name="Cats", is_public=True)
    writer = login(alice)

    add_to_list(writer, feature, feature_list=feature_list.pk, note="fires on cat")
    response = add_to_list(writer, other_feature, feature_list=feature_list.pk, note="")

    assert response.status_code == 302 and response.url == "/other/1-mlp/5/#lists"
    html = client.get(feature_list.get_absolute_url()).text
    assert '<a class="feature-ref" href="/tiny/0-mlp/3/">tiny/0-mlp/3</a>' in html
    assert '<span class="note">fires on cat</span>' in html
    assert '<a class="feature-ref" href="/other/1-mlp/5/">other/1-mlp/5</a>' in html
    assert "2 features" in html


def test_adding_a_feature_again_updates_its_note_instead_of_duplicating_it(feature, alice):
    feature_list = list_services.list_create(owner=alice, name="Cats")
    client = login(alice)

    add_to_list(client, feature, feature_list=feature_list.pk, note="first")
    add_to_list(client, feature, feature_list=feature_list.pk, note="second thoughts")

    assert list(FeatureListItem.objects.values_list("note", flat=True)) == ["second thoughts"]


def test_naming_a_new_list_on_the_feature_page_creates_it_with_the_feature(feature, alice):
    add_to_list(login(alice), feature, new_list_name="Fresh", note="n")

    feature_list = FeatureList.objects.get()
    assert (feature_list.name, feature_list.is_public) == ("Fresh", False)
    assert feature_list.items.get().feature == feature


def test_adding_without_a_list_or_a_name_says_what_is_missing(feature, alice):
    response = login(alice).post(
        reverse("explanations:add-to-list", args=["tiny", "0-mlp", 3]), {"note": "x"}, follow=True
    )

    assert "Choose one of your lists or name a new one." in response.text
    assert not FeatureListItem.objects.exists()


def test_the_feature_page_offers_the_readers_lists_and_says_which_hold_it(feature, alice):
    holding = list_services.list_create(owner=alice, name="Has it")
    list_services.list_create(owner=alice, name="Lacks it")
    list_services.list_add_feature(feature_list=holding, feature=feature, user=alice)

    html = login(alice).get("/tiny/0-mlp/3/").text

    assert f'<option value="{holding.pk}">Has it (already in it: updates the note)</option>' in html
    assert ">Lacks it</option>" in html
    assert f'In <a href="/lists/{holding.pk}/">Has it</a>.' in html


def test_the_owner_removes_a_feature_edits_and_deletes_the_list(feature, alice):
    feature_list = list_services.list_create(owner=alice, name="Cats")
    list_services.list_add_feature(feature_list=feature_list, feature=feature, user=alice)
    client = login(alice)

    client.post(reverse("explanations:list-remove", args=[feature_list.pk, feature.pk]))
    assert not feature_list.items.exists()

    client.post(reverse("explanations:list-edit", args=[feature_list.pk]), {"name": "Dogs", "is_public": "on"})
    feature_list.refresh_from_db()
    assert (feature_list.name, feature_list.is_public) == ("Dogs", True)

    response = client.post(reverse("explanations:list-delete", args=[feature_list.pk]))
    assert response.url == "/lists/"
    assert not FeatureList.objects.exists()


def test_the_lists_page_shows_your_lists_and_everyones_public_ones(feature, alice, bob):
    list_services.list_create(owner=alice, name="Alice public", is_public=True)
    list_services.list_create(owner=alice, name="Alice private")
    list_services.list_create(owner=bob, name="Bob private")

    as_bob = login(bob).get(reverse("explanations:lists")).text
    as_alice = login(alice).get(reverse("explanations:lists")).text

    assert "Alice public" in as_bob and "Bob private" in as_bob and "Alice private" not in as_bob
    assert "Alice private" in as_alice and "Bob private" not in as_alice


def test_anonymous_visitors_read_public_lists_but_cannot_make_them(feature, alice, client):
    feature_list = list_services.list_create(owner=alice, name="Open", is_public=True)

    assert client.get(feature_list.get_absolute_url()).status_code == 200
    response = client.post(reverse("explanations:list-new"), {"name": "anon"})
    assert response.status_code == 302 and "/accounts/login/" in response.url
    assert FeatureList.objects.count() == 1


def test_banned_users_cannot_make_or_fill_lists(feature, alice):
    Ban.objects.create(user=alice)

    assert login(alice).post(reverse("explanations:list-new"), {"name": "x"}).status_code == 403
    assert add_to_list(login(alice), feature, new_list_name="y").status_code == 403
    assert not FeatureList.objects.exists()


def test_bookmarking_toggles_and_the_bookmarks_page_lists_them(feature, other_feature, alice):
    client = login(alice)
    url = reverse("explanations:bookmark", args=["tiny", "0-mlp", 3])

    on = client.post(url, {"bookmark": "1"}, headers={"HX-Request": "true"})
    client.post(reverse("explanations:bookmark", args=["other", "1-mlp", 5]), {"bookmark": "1"})

    assert "Bookmarked ★" in on.text and 'name="bookmark" value="0"' in on.text
    page = client.get(reverse("explanations:bookmarks")).text
    assert "tiny/0-mlp/3" in page and "other/1-mlp/5" in page

    off = client.post(url, {"bookmark": "0"}, headers={"HX-Request": "true"})
    assert "Bookmark ☆" in off.text
    assert list(Bookmark.objects.values_list("feature_id", flat=True)) == [other_feature.pk]


def test_watching_toggles_from_the_feature_page(feature, alice):
    client = login(alice)
    url = reverse("explanations:watch", args=["tiny", "0-mlp", 3])

    assert "Watching ✓" in client.post(url, {"watch": "1"}, headers={"HX-Request": "true"}).text
    assert Watch.objects.filter(user=alice, feature=feature).exists()
    assert 'aria-pressed="true"' in client.get("/tiny/0-mlp/3/").text.split('class="toggle"', 2)[1]

    client.post(url, {"watch": "0"})
    assert not Watch.objects.exists()


def test_anonymous_readers_see_no_watch_bookmark_or_list_controls(feature, client):
    html = client.get("/tiny/0-mlp/3/").text

    assert 'class="feature-actions"' not in html


def give_top_example(feature, tokens: list[str], values: list[float]) -> None:
    window = ContextWindow.objects.create(
        model=feature.source.model, corpus_key="k", position=feature.pk, token_ids=list(range(len(tokens))),
        tokens=tokens,
    )  # fmt: skip
    peak = max(range(len(values)), key=values.__getitem__)
    ActivationExample.objects.create(
        feature=feature, window=window, kind="top", rank=0, values=pack_floats(values), max_value=values[peak],
        max_token_index=peak,
    )  # fmt: skip
    Feature.objects.filter(pk=feature.pk).update(max_activation=values[peak], density=0.01)


def test_a_list_shows_each_features_explanation_score_max_and_a_snippet_around_its_peak(
    feature, other_feature, alice, client, django_assert_max_num_queries
):
    tokens = [f"w{i}" for i in range(60)]
    give_top_example(feature, tokens, [0.0] * 40 + [2.5] + [0.0] * 19)
    explanation = explain(feature, alice, "cats and kittens")
    explanation.__class__.objects.filter(pk=explanation.pk).update(best_score=0.61)
    feature_list = list_services.list_create(owner=alice, name="Cats", is_public=True)
    for item in (feature, other_feature):
        list_services.list_add_feature(feature_list=feature_list, feature=item, user=alice, note="")

    html = client.get(feature_list.get_absolute_url()).text

    row = html[html.index("tiny/0-mlp/3</a>") : html.index("other/1-mlp/5</a>")]
    assert "cats and kittens" in row and ">0.61<" in row and ">2.500<" in row
    # 24 tokens centred on the peak (w40), the peak marked: w28 to w51.
    assert ">w28</span>" in row and ">w51</span>" in row and ">w27<" not in row and ">w52<" not in row
    assert 'class="tok max"' in row and ">w40</span>" in row
    rest = html[html.index("other/1-mlp/5</a>") :]
    assert "no explanation yet" in rest and "never fires" in rest
    # However many features: the list, its items, their features (with explanations), their snippets, plus
    # the session and user of an anonymous reader's request.
    many = [Feature.objects.select_related("source__model").get(source=feature.source, index=i) for i in (0, 1, 2)]
    for item in many:
        give_top_example(item, tokens, [1.0] * 60)
        list_services.list_add_feature(feature_list=feature_list, feature=item, user=alice, note="")
    with django_assert_max_num_queries(4):
        assert client.get(feature_list.get_absolute_url()).status_code == 200


def test_bookmarks_show_what_each_feature_does(feature, alice):
    give_top_example(feature, ["a", "cat", "sat"], [0.0, 3.0, 0.0])
    explain(feature, alice, "the word cat")
    list_services.bookmark_set(user=alice, feature=feature, bookmarked=True)

    html = login(alice).get(reverse("explanations:bookmarks")).text

    assert "the word cat" in html and ">3.000<" in html and 'class="tok max"' in html
