import re
from html.parser import HTMLParser

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from explanations.services import explanations as explanation_services
from explanations.services import lists as list_services
from explanations.services import votes as vote_services
from features.core.highlighting import snippet_bounds
from features.models import ActivationExample, ContextWindow, Feature, pack_floats
from tests.features.wiki_data import add_comment, add_explanation, make_user


def strongest_feature() -> Feature:
    return Feature.objects.select_related("source__model").filter(source__slug="0-mlp").order_by("-max_activation")[0]


class CommentDepths(HTMLParser):
    """Records how many comments each comment is nested in: {comment pk: depth}."""

    def __init__(self) -> None:
        super().__init__()
        self.open_li: list[bool] = []  # for every open <li>, whether it is a comment
        self.depths: dict[int, int] = {}

    def handle_starttag(self, tag, attrs):
        if tag != "li":
            return
        attrs = dict(attrs)
        is_comment = attrs.get("class") == "comment"
        if is_comment:
            self.depths[int(attrs["id"].removeprefix("comment-"))] = sum(self.open_li)
        self.open_li.append(is_comment)

    def handle_endtag(self, tag):
        if tag == "li":
            self.open_li.pop()


def comment_depths(content: str) -> dict[int, int]:
    parser = CommentDepths()
    parser.feed(content)
    return parser.depths


def test_it_shows_the_stored_example_tokens_and_the_formatted_max_activation(computed_run, client):
    feature = strongest_feature()
    response = client.get(feature.get_absolute_url())
    assert response.status_code == 200
    content = response.content.decode()
    assert f"<dd>{feature.max_activation:.3f}</dd>" in content
    assert f"<dd>{feature.density * 100:.2f}%</dd>" in content
    examples = list(feature.examples.filter(kind="top").order_by("rank").select_related("window"))
    top = content.split('id="top-activations"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'<li class="example" id="example-(\d+)">', top) == [str(example.pk) for example in examples]
    assert len(examples) == 5
    first = examples[0]
    start, end = snippet_bounds(len(first.window.tokens), first.max_token_index)
    first_line = top.split(f'id="example-{first.pk}"', 1)[1].split("</li>", 1)[0]
    for token in first.window.tokens[start:end]:
        assert f">{escape(token)}</span>" in first_line


def test_the_max_token_is_marked_and_titled_with_its_value(computed_run, client):
    feature = strongest_feature()
    example = feature.examples.select_related("window").get(kind="top", rank=0)
    token = example.window.tokens[example.max_token_index]
    value = example.activations[example.max_token_index]
    content = client.get(feature.get_absolute_url()).content.decode()
    # The top example's max token is the feature's max, so it is fully coloured.
    marked = (
        f'<span class="tok max" style="background-color: rgba(249, 115, 22, 1.000)" title="{value:.3f}">'
        f"{escape(token)}</span>"
    )
    assert marked in content
    # one marked token per example shown: 5 top examples plus the first sample of each interval
    intervals = feature.examples.filter(kind="interval").values("interval_index").distinct().count()
    assert intervals > 1
    assert content.count('class="tok max"') == 5 + intervals


def test_special_tokens_are_dimmed(computed_run, client):
    content = client.get(strongest_feature().get_absolute_url()).content.decode()
    assert '<span class="tok special" title="special token">[CLS]</span>' in content


def test_a_token_with_markup_is_escaped(computed_run, client):
    feature = strongest_feature()
    window = feature.examples.get(kind="top", rank=0).window
    window.tokens = ["[CLS]", "<script>alert(1)</script>", *window.tokens[2:]]
    window.save()
    content = client.get(feature.get_absolute_url()).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_the_breadcrumbs_link_back_to_model_and_source(computed_run, client):
    feature = strongest_feature()
    content = client.get(feature.get_absolute_url()).content.decode()
    crumbs = content.split('<nav class="breadcrumbs"', 1)[1].split("</nav>", 1)[0]
    assert '<a href="/">Home</a>' in crumbs
    assert '<a href="/tiny-bert/">tiny-bert</a>' in crumbs
    assert '<a href="/tiny-bert/0-mlp/">0-mlp</a>' in crumbs
    assert f'<li aria-current="page">{feature.index}</li>' in crumbs


def test_it_links_to_the_previous_and_next_features_where_they_exist(computed_run, client):
    middle = client.get("/tiny-bert/0-mlp/10/").content.decode()
    assert '<a href="/tiny-bert/0-mlp/9/" rel="prev">' in middle
    assert '<a href="/tiny-bert/0-mlp/11/" rel="next">' in middle

    first = client.get("/tiny-bert/0-mlp/0/").content.decode()
    assert 'rel="prev"' not in first
    assert '<a href="/tiny-bert/0-mlp/1/" rel="next">' in first

    last = client.get("/tiny-bert/0-mlp/47/").content.decode()
    assert '<a href="/tiny-bert/0-mlp/46/" rel="prev">' in last
    assert 'rel="next"' not in last


def test_explanations_are_ordered_by_best_score_then_votes_and_hidden_ones_left_out(computed_run, client):
    feature = strongest_feature()
    alice = make_user("alice")
    add_explanation(feature, "fair guess", author=alice, best_score=0.2, vote_score=5)
    add_explanation(feature, "good but unloved", method="token-stats", best_score=0.9, vote_score=0)
    add_explanation(feature, "unscored favourite", author=alice, vote_score=10)
    add_explanation(feature, "good and loved", method="llm", best_score=0.9, vote_score=3)
    add_explanation(feature, "hidden spam", author=alice, best_score=1.0, hidden=True)

    content = client.get(feature.get_absolute_url()).content.decode()
    assert "Ordered by best score, then votes." in content
    texts = re.findall(r'<p class="explanation-text">(.*?)</p>', content)
    assert texts == ["good and loved", "good but unloved", "fair guess", "unscored favourite"]
    assert "hidden spam" not in content


def test_an_explanation_shows_its_author_votes_and_each_scorers_latest_value(computed_run, client):
    feature = strongest_feature()
    add_explanation(
        feature,
        "numbers in lists",
        method="token-stats",
        vote_score=2,
        scores=(("simulation", 0.1), ("detection", 0.75), ("simulation", 0.4567)),
        earlier_texts=("an old draft",),
    )
    content = client.get(feature.get_absolute_url()).content.decode()
    assert "numbers in lists" in content
    assert "an old draft" not in content
    assert "by token-stats" in content
    assert "2 votes" in content
    assert "simulation 0.457" in content
    assert "detection 0.750" in content
    assert "simulation 0.100" not in content


def test_comments_are_threaded_and_deleted_ones_say_so(computed_run, client):
    feature = strongest_feature()
    alice, bob = make_user("alice"), make_user("bob")
    root = add_comment(feature, alice, "Fires on numbers?\nOr on lists?")
    reply = add_comment(feature, bob, "Numbers, I think.", parent=root)
    nested = add_comment(feature, alice, "Thanks!", parent=reply)
    deleted = add_comment(feature, bob, "something regrettable", deleted=True)
    reply_to_deleted = add_comment(feature, alice, "Still visible", parent=deleted)

    content = client.get(feature.get_absolute_url()).content.decode()
    assert comment_depths(content) == {root.pk: 0, reply.pk: 1, nested.pk: 2, deleted.pk: 0, reply_to_deleted.pk: 1}
    # Comments are markdown, with a line break kept as typed.
    assert "<p>Fires on numbers?<br>\nOr on lists?</p>" in content
    assert '<a href="/u/bob/">bob</a>' in content
    assert "[deleted]" in content
    assert "something regrettable" not in content
    assert "Still visible" in content


def test_comment_bodies_and_explanations_are_escaped(computed_run, client):
    feature = strongest_feature()
    alice = make_user("alice")
    add_explanation(feature, "<img src=x onerror=alert(1)>", author=alice)
    add_comment(feature, alice, "<b>bold</b>")
    content = client.get(feature.get_absolute_url()).content.decode()
    assert "<img src=x" not in content
    assert "&lt;b&gt;bold&lt;/b&gt;" in content


def test_the_query_count_does_not_grow_with_examples_explanations_or_comments(
    computed_run, client, django_assert_max_num_queries
):
    feature = strongest_feature()
    alice = make_user("alice")
    add_explanation(feature, "first", author=alice, scores=(("simulation", 0.5),))
    add_comment(feature, alice, "hello")
    with CaptureQueriesContext(connection) as baseline:
        assert client.get(feature.get_absolute_url()).status_code == 200
    # A signed-in reader also sees their votes, lists, watch and bookmark.
    reader = Client()
    reader.force_login(alice)
    with CaptureQueriesContext(connection) as reader_baseline:
        assert reader.get(feature.get_absolute_url()).status_code == 200

    windows = list(ContextWindow.objects.filter(model=feature.source.model)[:10])
    ActivationExample.objects.bulk_create(
        ActivationExample(
            feature=feature,
            window=windows[rank % len(windows)],
            rank=rank,
            values=pack_floats([0.01] * len(windows[rank % len(windows)].tokens)),
            max_value=0.01,
            max_token_index=1,
        )
        for rank in range(5, 40)
    )
    # As every write of a feature's examples does (runs, uploads, imports): the page's dashboard goes by it.
    Feature.objects.filter(pk=feature.pk).update(updated_at=timezone.now())
    for number in range(12):
        writer = make_user(f"writer{number}")
        explanation = add_explanation(
            feature,
            f"explanation {number}",
            author=writer if number % 2 else None,
            method="" if number % 2 else "token-stats",
            best_score=number / 12,
            scores=(("simulation", 0.1), ("detection", 0.2), ("simulation", 0.3)),
            earlier_texts=("draft",),
        )
        comment = add_comment(feature, writer, f"comment {number}", explanation=explanation)
        add_comment(feature, alice, f"reply {number}", parent=comment)
        explanation_services.explanation_revise(explanation=explanation, author=alice, text=f"revised {number}",
                                                embed=False)  # fmt: skip
        # Authors do not vote on their own explanations: two readers do.
        vote_services.vote_cast(user=make_user(f"up{number}"), explanation=explanation, value=1)
        vote_services.vote_cast(user=make_user(f"down{number}"), explanation=explanation, value=-1)
        own_list = list_services.list_create(owner=alice, name=f"list {number}")
        list_services.list_add_feature(feature_list=own_list, feature=feature, user=alice, note="n")
    list_services.watch_set(user=alice, feature=feature, watching=True)
    list_services.bookmark_set(user=alice, feature=feature, bookmarked=True)

    with django_assert_max_num_queries(len(baseline)):
        response = client.get(feature.get_absolute_url())
    content = response.content.decode()
    top = content.split('id="top-activations"', 1)[1].split("</section>", 1)[0]
    assert top.count('<li class="example" id="example-') == 40
    assert "revised 11" in content
    assert "reply 11" in content
    with django_assert_max_num_queries(len(reader_baseline)):
        assert "list 11" in reader.get(feature.get_absolute_url()).content.decode()


def test_an_index_out_of_range_is_a_helpful_404(computed_run, client):
    response = client.get("/tiny-bert/0-mlp/999/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "Index 999 is out of range: 0-47" in content
    assert '<a href="/tiny-bert/0-mlp/">tiny-bert/0-mlp</a>' in content


def test_a_feature_that_was_not_computed_is_a_404(computed_run, client):
    Feature.objects.filter(source__slug="0-mlp", index=3).delete()
    response = client.get("/tiny-bert/0-mlp/3/")
    assert response.status_code == 404
    assert b"tiny-bert/0-mlp has no computed feature 3 yet." in response.content


def test_a_feature_of_an_unknown_source_or_model_is_a_404_about_that(computed_run, client):
    response = client.get("/tiny-bert/1-mlp/3/")
    assert response.status_code == 404
    assert b"tiny-bert has no source 1-mlp; its sources are 0-mlp, 2-mlp." in response.content
    response = client.get("/nope/0-mlp/3/")
    assert response.status_code == 404
    assert b"There is no model nope." in response.content


def test_it_shows_the_histogram_interval_samples_and_similar_features(computed_run, client):
    feature = strongest_feature()
    content = client.get(feature.get_absolute_url()).content.decode()
    assert "<svg" in content and content.count("<rect ") == len(feature.histogram["counts"])
    assert "Samples across activation intervals" in content
    # One sample per interval in the table, its first; the rest on request (test_feature_examples.py).
    table = content.split('<table class="interval-table stack">', 1)[1].split("</table>", 1)[0]
    firsts = feature.examples.filter(kind="interval", rank=0).order_by("-interval_index")
    assert re.findall(r'id="example-(\d+)"', table) == [str(example.pk) for example in firsts]
    for entry in feature.similar:
        assert f'href="/tiny-bert/{feature.source.slug}/{entry["index"]}/"' in content
    # BERT has no unembedding: no logits, and no note on every feature saying so.
    assert "Top positive logits" not in content and "No output logits" not in content


def test_a_causal_model_feature_page_shows_its_output_logits(db, client, tiny_gpt2_dir, sample_corpus_file):
    from features.services import activation_runs

    run = activation_runs.activation_run_create(
        model_path=str(tiny_gpt2_dir),
        model_slug="tiny-gpt2",
        layers=[1],
        corpus=str(sample_corpus_file),
        n_windows=6,
        window_len=12,
        top_k=3,
        sync=True,
    )
    activation_runs.activation_run_start(run_id=run.pk)
    feature = Feature.objects.get(source__model__slug="tiny-gpt2", index=5)
    content = client.get(feature.get_absolute_url()).content.decode()
    assert "Top positive logits" in content and "Top negative logits" in content
    assert "No output logits" not in content
    for entry in feature.top_logits + feature.bottom_logits:
        assert f"{entry['value']:.3f}" in content


def test_a_dead_feature_says_so_and_shows_no_top_activations(computed_run, client):
    feature = strongest_feature()
    # As a run stores a neuron that never fires: a max at or below zero (GELU's small negatives), no density,
    # and windows kept for it all the same.
    Feature.objects.filter(pk=feature.pk).update(max_activation=-0.0002, density=0.0, updated_at=timezone.now())

    content = client.get(feature.get_absolute_url()).content.decode()

    assert "This feature is dead" in content
    assert 'class="example-list"' not in content and "Samples across activation intervals" not in content
    assert content.index("This feature is dead") < content.index('id="explanations"')


def test_the_best_explanation_heads_the_page_before_any_example(computed_run, client):
    feature = strongest_feature()
    add_explanation(feature, "numbers in lists", method="token-stats", best_score=0.8, vote_score=3)
    add_explanation(feature, "a worse guess", method="token-stats", best_score=0.2)

    content = client.get(feature.get_absolute_url()).content.decode()

    title = re.search(r'<h1 class="feature-title">(.*?)</h1>', content)
    assert title and title.group(1) == "numbers in lists"
    assert content.index("numbers in lists") < content.index("Top activations") < content.index('id="explanations"')
    assert "all 2 explanations" in content and "3 votes" in content


def test_a_feature_without_an_explanation_says_so_at_the_top(computed_run, client):
    content = client.get(strongest_feature().get_absolute_url()).content.decode()

    assert '<h1 class="feature-title untitled">No explanation yet</h1>' in content
    assert content.index("No explanation yet") < content.index("Top activations")


def test_the_header_says_what_the_best_explanations_scores_mean_in_words_a_phone_can_read(computed_run, client):
    feature = strongest_feature()
    explanation = add_explanation(feature, "numbers in lists", best_score=0.8, scores=(("detection", 0.75),))
    meaning = explanation.scores.get().meaning

    content = client.get(feature.get_absolute_url()).content.decode()

    header = content.split('<header class="feature-header">', 1)[1].split("</header>", 1)[0]
    gloss = header.split('<details class="score-meanings">', 1)[1].split("</details>", 1)[0]
    assert "What this score means" in gloss
    assert f"<strong>detection 0.750</strong>: {escape(meaning)}" in gloss  # text, not only a hover title


def test_an_index_too_large_for_any_feature_is_a_404_not_an_error(computed_run, client):
    response = client.get("/tiny-bert/0-mlp/99999999999999999999999/")
    assert response.status_code == 404
    assert "out of range" in response.content.decode()
