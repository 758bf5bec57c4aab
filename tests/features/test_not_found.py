def test_an_unmatched_path_renders_the_site_404_page(computed_run, client, settings):
    settings.DEBUG = False
    response = client.get("/a/b/c/d/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "There is no page at /a/b/c/d/." in content
    assert '<a href="/tiny-bert/">tiny-bert</a>' in content
    assert '<header class="site-header">' in content


def test_the_404_page_says_how_to_build_the_demo_when_there_are_no_models(db, client, settings):
    settings.DEBUG = False
    response = client.get("/some-model/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "There is no model some-model: no models have been added yet." in content
    assert "make demo" in content
