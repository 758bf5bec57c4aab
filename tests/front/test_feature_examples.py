"""The feature page's compact examples: one line each, the whole window on request, one sample per interval
with the rest on request, and similar features with their explanations."""

import re

from django.utils.html import escape

from features.core.highlighting import SNIPPET_TOKENS, snippet_bounds
from features.models import ActivationExample, ContextWindow, Feature, pack_floats
from tests.features.wiki_data import add_explanation

HTMX = {"HTTP_HX_REQUEST": "true"}


def strongest_feature() -> Feature:
    return Feature.objects.select_related("source__model").filter(source__slug="0-mlp").order_by("-max_activation")[0]


def long_example(feature: Feature, *, length: int = 100, peak: int = 70) -> ActivationExample:
    """Make the feature's top example a window of `length` tokens t0, t1, ... peaking at `peak`."""
    example = feature.examples.get(kind="top", rank=0)
    window = ContextWindow.objects.create(
        model=feature.source.model,
        corpus_key="long",
        position=10_000,
        tokens=[f"t{i}" for i in range(length)],
        token_ids=list(range(length)),
    )
    values = [0.0] * length
    values[peak] = feature.max_activation
    values[peak - 1] = feature.max_activation / 2
    example.window, example.values, example.max_token_index = window, pack_floats(values), peak
    example.save()
    Feature.objects.filter(pk=feature.pk).update(updated_at=feature.updated_at.replace(microsecond=1))
    return example


def tokens_in(html: str) -> list[str]:
    return re.findall(r'<span class="tok[^"]*"[^>]*>([^<]*)</span>', html)


def example_line(content: str, example: ActivationExample) -> str:
    return content.split(f'id="example-{example.pk}"', 1)[1].split("</li>", 1)[0]


def test_a_long_example_shows_the_tokens_around_its_peak_with_ellipses_and_a_link_to_the_whole_window(
    computed_run, client
):
    feature = strongest_feature()
    example = long_example(feature)
    line = example_line(client.get(feature.get_absolute_url()).content.decode(), example)

    start, end = snippet_bounds(100, 70)
    assert tokens_in(line) == [f"t{i}" for i in range(start, end)] and end - start == SNIPPET_TOKENS
    assert line.count('class="elided"') == 2
    assert 'class="tok max"' in line and ">t70</span>" in line
    assert f'href="{feature.get_absolute_url()}examples/{example.pk}/"' in line and ">More</a>" in line


def test_more_swaps_in_the_whole_window_and_less_swaps_the_line_back(computed_run, client):
    feature = strongest_feature()
    example = long_example(feature)
    url = f"{feature.get_absolute_url()}examples/{example.pk}/"

    whole = client.get(url, **HTMX).content.decode()
    assert whole.lstrip().startswith(f'<li class="example whole" id="example-{example.pk}">')
    assert tokens_in(whole) == [f"t{i}" for i in range(100)] and "elided" not in whole
    assert f'title="{feature.max_activation:.3f}">t70</span>' in whole  # the value, for hover and tap
    assert f'hx-get="{url}?snippet=1"' in whole and ">Less</a>" in whole

    line = client.get(f"{url}?snippet=1", **HTMX).content.decode()
    start, end = snippet_bounds(100, 70)
    assert tokens_in(line) == [f"t{i}" for i in range(start, end)] and ">More</a>" in line


def test_without_javascript_more_is_a_page_of_its_own(computed_run, client):
    feature = strongest_feature()
    example = long_example(feature)
    content = client.get(f"{feature.get_absolute_url()}examples/{example.pk}/").content.decode()
    assert "<!doctype html>" in content
    assert f'<a href="{feature.get_absolute_url()}">{escape(str(feature))}</a>' in content
    assert tokens_in(example_line(content, example)) == [f"t{i}" for i in range(100)]


def test_an_example_of_another_feature_is_a_404_that_says_so(computed_run, client):
    feature = strongest_feature()
    other = Feature.objects.filter(source=feature.source).exclude(pk=feature.pk).exclude(examples=None).first()
    theirs = other.examples.first()
    response = client.get(f"{feature.get_absolute_url()}examples/{theirs.pk}/", **HTMX)
    assert response.status_code == 404
    assert f"has no example #{theirs.pk}" in response.content.decode()


def test_an_intervals_other_samples_come_on_request_in_rank_order(computed_run, client):
    feature = strongest_feature()
    interval = feature.examples.filter(kind="interval", rank__gt=0).order_by("-interval_index").first().interval_index
    rest = feature.examples.filter(kind="interval", interval_index=interval, rank__gt=0).order_by("rank")
    page = client.get(feature.get_absolute_url()).content.decode()
    url = f"{feature.get_absolute_url()}intervals/{interval}/"
    assert f'hx-get="{url}"' in page and f"{rest.count()} more sample" in page

    content = client.get(url, **HTMX).content.decode()
    assert re.findall(r'id="example-(\d+)"', content) == [str(example.pk) for example in rest]
    assert client.get(f"{feature.get_absolute_url()}intervals/99/", **HTMX).status_code == 404


def test_similar_features_are_listed_with_their_best_explanations(computed_run, client):
    feature = strongest_feature()
    first, second = feature.similar[0]["index"], feature.similar[1]["index"]
    add_explanation(Feature.objects.get(source=feature.source, index=first), "commas and full stops", best_score=0.7)
    Feature.objects.filter(source=feature.source, index=second).delete()

    page = client.get(feature.get_absolute_url()).content.decode()
    url = f"{feature.get_absolute_url()}similar/"
    assert f'hx-get="{url}" hx-trigger="load"' in page  # fetched fresh: the page is cached, their texts are not

    content = client.get(url, **HTMX).content.decode()
    items = re.findall(r"<li><a href=\"/tiny-bert/0-mlp/(\d+)/\">", content)
    expected = [entry["index"] for entry in feature.similar if entry["index"] != second]
    assert [int(index) for index in items] == expected
    assert "commas and full stops" in content.split(f'/0-mlp/{first}/"', 1)[1].split("</li>", 1)[0]
    assert "no explanation yet" in content


def test_the_page_reads_explanation_then_examples_then_intervals_then_similar_then_discussion(computed_run, client):
    feature = strongest_feature()
    add_explanation(feature, "numbers in lists", best_score=0.8)
    content = client.get(feature.get_absolute_url()).content.decode()
    marks = ['class="feature-title"', 'id="top-activations"', 'id="intervals"', 'id="similar"', 'id="explanations"',
             'id="discussion"']  # fmt: skip
    positions = [content.index(mark) for mark in marks]
    assert positions == sorted(positions)
    assert content.index("<svg") < content.index('id="top-activations"')  # the histogram is in the header
