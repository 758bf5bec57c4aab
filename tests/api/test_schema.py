"""The OpenAPI schema and its docs pages: valid, complete, and served without any CDN."""

import re

from django.core.management import call_command


def test_the_schema_validates_without_warnings(db, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = (tmp_path / "schema.yaml").read_text()
    for path in (
        "/api/v1/features/{id}/:",
        "/api/v1/features/{model_slug}/{source_slug}/{index}/:",
        "/api/v1/explanations/{id}/vote/:",
        "/api/v1/lists/{id}/items/{feature_pk}/:",
        "/api/v1/export/{model_slug}/{source_slug}/{name}.{fmt}:",
        "/api/feature/{model_slug}/{source_slug}/{index}/:",
        "/api/search-all/:",
    ):
        assert path in schema, path


def test_the_schema_is_served_as_json(anon, db):
    response = anon.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
    }
    assert "ErrorOut" in schema["components"]["schemas"]


def test_the_docs_pages_load_nothing_from_a_cdn(anon, db):
    for url in ("/api/v1/docs/", "/api/v1/redoc/"):
        page = anon.get(url).content.decode()
        assert "drf_spectacular_sidecar" in page
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets and all(not asset.startswith(("http:", "https:", "//")) for asset in assets), assets


def test_the_api_root_is_an_index_with_links_to_its_docs_and_collections(client, db):
    response = client.get("/api/v1/")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    index = response.json()
    assert index["docs"] == "http://testserver/api/v1/docs/" and index["schema"].endswith("/api/v1/schema/")
    assert index["endpoints"]["features"] == "http://testserver/api/v1/features/"
    for url in index["endpoints"].values():
        assert client.get(url).status_code in {200, 401, 403}, url


def test_every_page_links_to_the_lists_and_the_api_docs(client, db):
    html = client.get("/").content.decode()
    assert 'href="/lists/"' in html and 'href="/api/v1/docs/"' in html and 'href="/api/v1/"' in html
