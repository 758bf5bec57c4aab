"""The site as it runs with DEBUG off (the test settings keep DEBUG off, as `make demo` now does): friendly
error pages for every address, compressed pages, and settings that pass Django's deployment checklist."""

import gzip
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/u/nobody/", "/lists/999/", "/explanations/99999/", "/play/round/9999/", "/runs/9999/", "/no/such/x/y/"]
)
def test_an_unknown_address_gets_the_sites_own_404_page(client, django_user_model, url):
    client.force_login(django_user_model.objects.create_user("reader", password="pw"))  # /play/ needs one

    response = client.get(url)

    assert response.status_code == 404
    content = response.content.decode()
    assert '<header class="site-header">' in content, "the site's page, with its navigation"
    assert "URLconf" not in content and "Traceback" not in content


@pytest.mark.django_db
def test_a_crash_gets_a_plain_500_page_that_shows_nothing_of_the_server(monkeypatch):
    def broken():
        raise RuntimeError("secret internals")

    monkeypatch.setattr("features.selectors.model_list", broken)
    response = Client(raise_request_exception=False).get("/")

    assert response.status_code == 500
    content = response.content.decode()
    assert "Something went wrong on our side" in content and "secret internals" not in content


@pytest.mark.django_db
def test_pages_are_sent_compressed_to_browsers_that_accept_it(client):
    plain = client.get("/")
    compressed = client.get("/", headers={"Accept-Encoding": "gzip"})

    assert compressed["Content-Encoding"] == "gzip"
    assert len(compressed.content) < len(plain.content)
    assert b"Neuronpedia" in gzip.decompress(compressed.content)


def test_production_settings_from_the_environment_pass_the_deployment_checklist(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "neuronpedia.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "neuronpedia.example.org",
        "DJANGO_SECURE_COOKIES": "1",
        "DJANGO_SECURE_SSL_REDIRECT": "1",
        "DJANGO_SECURE_HSTS_SECONDS": "31536000",
        "DJANGO_SECURE_HSTS_PRELOAD": "1",
        "NEURONPEDIA_VAR_DIR": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
