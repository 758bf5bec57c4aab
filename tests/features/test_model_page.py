from features.models import PipelineRun


def test_it_shows_the_model_facts(computed_run, client):
    response = client.get("/tiny-bert/")
    assert response.status_code == 200
    content = response.content.decode()
    for fact in ["<dd>bert</dd>", "<dd>3</dd>", "<dd>32</dd>", "<dd>48</dd>", "<dd>30,522 tokens</dd>"]:
        assert fact in content


def test_it_links_to_its_sources_grouped_by_layer(computed_run, client):
    content = client.get("/tiny-bert/").content.decode()
    assert content.index("Layer 0") < content.index('href="/tiny-bert/0-mlp/"') < content.index("Layer 2")
    assert content.index("Layer 2") < content.index('href="/tiny-bert/2-mlp/"')
    assert "blocks.2.mlp.hook_post" in content
    assert "MLP neurons" in content
    assert "48 features" in content


def test_it_lists_recent_runs_with_their_status_and_links(computed_run, client):
    queued = PipelineRun.objects.create(kind="activations", params={"model_slug": "tiny-bert", "layers": [1]})
    content = client.get("/tiny-bert/").content.decode()
    assert f'href="/runs/{computed_run.pk}/"' in content
    assert f'href="/runs/{queued.pk}/"' in content
    assert "Succeeded" in content
    assert "Queued" in content


def test_the_breadcrumbs_lead_home(computed_run, client):
    content = client.get("/tiny-bert/").content.decode()
    assert '<li><a href="/">Home</a></li>' in content
    assert '<li aria-current="page">tiny-bert</li>' in content


def test_an_unknown_model_is_a_helpful_404(computed_run, client):
    response = client.get("/tiny-bret/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "There is no model tiny-bret. Did you mean tiny-bert?" in content
    assert '<a href="/tiny-bert/">tiny-bert</a>' in content


def test_a_stray_file_path_is_a_404_not_an_error(computed_run, client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 404
    assert b"There is no model favicon.ico" in response.content
