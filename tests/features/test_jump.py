import pytest


@pytest.mark.parametrize(
    "query, target",
    [
        ("tiny-bert/0-mlp/5", "/tiny-bert/0-mlp/5/"),
        ("/tiny-bert/0-mlp/5/", "/tiny-bert/0-mlp/5/"),
        ("  TINY-BERT/2-MLP/7  ", "/tiny-bert/2-mlp/7/"),
        ("tiny-bert 0-mlp 5", "/tiny-bert/0-mlp/5/"),
        ("https://www.neuronpedia.org/tiny-bert/2-mlp/7?embed=true", "/tiny-bert/2-mlp/7/"),
        ("http://127.0.0.1:8000/tiny-bert/0-mlp/", "/tiny-bert/0-mlp/"),
        ("tiny-bert/0-mlp", "/tiny-bert/0-mlp/"),
        ("tiny-bert/", "/tiny-bert/"),
        ("tiny-bert", "/tiny-bert/"),
    ],
)
def test_it_redirects_to_the_page_an_address_names(computed_run, client, query, target):
    response = client.get("/jump/", {"q": query})
    assert response.status_code == 302
    assert response["Location"] == target


@pytest.mark.parametrize("query", ["", "   ", "/"])
def test_an_empty_query_goes_home(db, client, query):
    response = client.get("/jump/", {"q": query})
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize(
    "query, explanation",
    [
        ("gpt9/0-mlp/5", "There is no model gpt9."),
        ("tiny-bert/9-mlp", "tiny-bert has no source 9-mlp; its sources are 0-mlp, 2-mlp."),
        ("tiny-bert/0-mlp/999", "Index 999 is out of range: 0-47"),
        ("tiny-bert/0-mlp/five", "five is not a feature index; tiny-bert/0-mlp has indices 0-47."),
        ("a/b/c/d", "a/b/c/d is not a feature address."),
        ("https://example.com/", "https://example.com/ is not a feature address."),
    ],
)
def test_an_address_that_leads_nowhere_is_a_helpful_404(computed_run, client, query, explanation):
    response = client.get("/jump/", {"q": query})
    assert response.status_code == 404
    assert explanation in response.content.decode()


def test_a_404_keeps_the_query_in_the_jump_box(computed_run, client):
    content = client.get("/jump/", {"q": "tiny-bert/9-mlp"}).content.decode()
    assert 'value="tiny-bert/9-mlp"' in content
    assert '<a href="/tiny-bert/2-mlp/">2-mlp</a>' in content


def test_a_query_with_markup_is_escaped(computed_run, client):
    content = client.get("/jump/", {"q": "<script>x</script>"}).content.decode()
    assert "<script>x</script>" not in content
