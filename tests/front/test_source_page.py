import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from features.models import Feature
from tests.features.wiki_data import add_explanation, get_feature, make_user

URL = "/tiny-bert/0-mlp/"


def listed_indices(content: str) -> list[int]:
    return [int(index) for index in re.findall(r'<td><a href="/tiny-bert/0-mlp/(\d+)/">', content)]


def stored_order(*ordering: str) -> list[int]:
    return list(Feature.objects.filter(source__slug="0-mlp").order_by(*ordering).values_list("index", flat=True))


def test_it_lists_the_features_linking_to_their_pages_in_index_order(computed_run, client):
    response = client.get(URL)
    assert response.status_code == 200
    assert listed_indices(response.content.decode()) == list(range(48))


def test_it_shows_max_activation_and_density_as_a_percent(computed_run, client):
    feature = get_feature("0-mlp", 5)
    content = client.get(URL).content.decode()
    row = content.split('<td><a href="/tiny-bert/0-mlp/5/">5</a></td>', 1)[1].split("</tr>", 1)[0]
    assert f'<td class="num" data-label="Max activation">{feature.max_activation:.3f}</td>' in row
    assert f'<td class="num" data-label="Density">{feature.density * 100:.2f}%</td>' in row


def test_it_sorts_by_max_activation_or_density_when_asked(computed_run, client):
    for sort, ordering in [
        ("-max_activation", ("-max_activation", "index")),
        ("max_activation", ("max_activation", "index")),
        ("-density", ("-density", "index")),
        ("density", ("density", "index")),
    ]:
        content = client.get(URL, {"sort": sort}).content.decode()
        assert listed_indices(content) == stored_order(*ordering), sort


def test_an_unknown_sort_falls_back_to_index_order(computed_run, client):
    response = client.get(URL, {"sort": "max_activation; drop table"})
    assert response.status_code == 200
    assert listed_indices(response.content.decode()) == list(range(48))


def test_column_headers_link_to_their_sorts(computed_run, client):
    content = client.get(URL, {"sort": "-max_activation"}).content.decode()
    assert 'aria-sort="descending"' in content
    assert 'href="?sort=max_activation"' in content  # clicking the sorted column reverses it
    assert 'href="?sort=-density"' in content


def test_a_phone_keeps_the_sorts_when_the_table_stacks_into_cards(computed_run, client):
    content = client.get(URL, {"sort": "-max_activation"}).content.decode()
    assert '<table class="feature-index stack">' in content and 'data-label="Max activation"' in content
    links = content[content.index('class="sort-links stack-only"') : content.index("</p>", content.index("sort-links"))]
    assert 'href="?sort=max_activation" aria-current="true">Max activation ▼</a>' in links
    assert 'href="?sort=-density">Density</a>' in links


def test_it_paginates_and_keeps_the_sort_in_page_links(computed_run, client, settings):
    settings.FEATURES_PER_PAGE = 20
    first = client.get(URL, {"sort": "-density"}).content.decode()
    assert listed_indices(first) == stored_order("-density", "index")[:20]
    assert "Page 1 of 3" in first
    assert 'href="?sort=-density&amp;page=2"' in first

    last = client.get(URL, {"sort": "-density", "page": 3}).content.decode()
    assert listed_indices(last) == stored_order("-density", "index")[40:]
    assert "Page 3 of 3" in last

    assert listed_indices(client.get(URL, {"page": "nonsense"}).content.decode()) == list(range(20))


def test_it_shows_each_features_best_visible_explanation(computed_run, client):
    feature = get_feature("0-mlp", 2)
    add_explanation(feature, "weak guess", method="token-stats", best_score=0.1, vote_score=9)
    add_explanation(feature, "the best one", method="token-stats", best_score=0.8)
    add_explanation(feature, "hidden spam", method="token-stats", best_score=0.99, hidden=True)
    content = client.get(URL).content.decode()
    row = content.split('<td><a href="/tiny-bert/0-mlp/2/">2</a></td>', 1)[1].split("</tr>", 1)[0]
    assert "the best one" in row
    assert "hidden spam" not in content
    assert "weak guess" not in content


def test_best_explanations_cost_no_query_per_row(computed_run, client, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as baseline:
        client.get(URL)
    alice = make_user("alice")
    for index in range(0, 48, 2):
        add_explanation(get_feature("0-mlp", index), f"explanation {index}", author=alice, best_score=index / 48)
    with django_assert_max_num_queries(len(baseline)):
        content = client.get(URL).content.decode()
    assert "explanation 46" in content


def test_the_breadcrumbs_link_back_to_the_model(computed_run, client):
    content = client.get(URL).content.decode()
    assert '<li><a href="/tiny-bert/">tiny-bert</a></li>' in content
    assert '<li aria-current="page">0-mlp</li>' in content


def test_an_unknown_source_is_a_helpful_404(computed_run, client):
    response = client.get("/tiny-bert/9-mlp/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "tiny-bert has no source 9-mlp; its sources are 0-mlp, 2-mlp." in content
    assert '<a href="/tiny-bert/0-mlp/">0-mlp</a>' in content


def test_a_source_of_an_unknown_model_is_a_404_about_the_model(computed_run, client):
    response = client.get("/gpt9/0-mlp/")
    assert response.status_code == 404
    assert b"There is no model gpt9." in response.content
