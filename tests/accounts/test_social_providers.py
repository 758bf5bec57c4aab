"""Provider buttons follow settings.SOCIALACCOUNT_PROVIDERS, which social_providers() builds from the env."""

from django.urls import reverse

from neuronpedia.settings import social_providers

GITHUB = {"github": {"APPS": [{"client_id": "gh-client", "secret": "gh-secret", "key": ""}]}}


def test_no_provider_buttons_without_configured_providers(client, db, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}

    html = client.get(reverse("account_login")).text

    assert 'class="social-providers"' not in html
    assert "/accounts/github/login/" not in html
    assert "Continue with" not in html


def test_a_configured_provider_gets_a_button_on_login_and_signup(client, db, settings):
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB

    for name in ("account_login", "account_signup"):
        html = client.get(reverse(name)).text
        assert 'class="social-providers"' in html
        assert 'href="/accounts/github/login/?process=login">Continue with GitHub</a>' in html
        assert "Continue with Google" not in html
        assert "Continue with Apple" not in html


def test_provider_settings_are_reread_on_every_request(client, db, settings):
    # allauth reads SOCIALACCOUNT_PROVIDERS per request; nothing caches the first answer.
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB
    assert "Continue with GitHub" in client.get(reverse("account_login")).text

    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert "Continue with GitHub" not in client.get(reverse("account_login")).text


def test_a_configured_providers_login_page_renders_in_the_layout(client, db, settings):
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB

    response = client.get("/accounts/github/login/?process=login")

    # OAuth starts with a POST, so that a link alone cannot start it; the GET page asks to continue.
    html = response.text
    assert '<header class="site-header">' in html
    assert '<form class="account-form" method="post">' in html


def test_social_providers_is_empty_without_client_ids(monkeypatch):
    for name in ("GITHUB_CLIENT_ID", "GOOGLE_CLIENT_ID", "APPLE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)

    assert social_providers() == {}


def test_social_providers_switches_on_only_the_providers_in_the_environment(monkeypatch):
    for name in ("GITHUB_CLIENT_ID", "GOOGLE_CLIENT_ID", "APPLE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_CLIENT_ID", "gh-client")
    monkeypatch.setenv("GITHUB_CLIENT_SECRET", "gh-secret")

    providers = social_providers()

    assert list(providers) == ["github"]
    assert providers["github"]["APPS"] == [{"client_id": "gh-client", "secret": "gh-secret", "key": ""}]


def test_social_providers_configures_apple_with_its_key(monkeypatch):
    for name in ("GITHUB_CLIENT_ID", "GOOGLE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APPLE_CLIENT_ID", "org.example.web")
    monkeypatch.setenv("APPLE_KEY_ID", "KEYID")
    monkeypatch.setenv("APPLE_TEAM_ID", "TEAMID")
    monkeypatch.setenv("APPLE_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\\nabc\\n-----END PRIVATE KEY-----")

    (app,) = social_providers()["apple"]["APPS"]

    assert (app["client_id"], app["secret"], app["key"]) == ("org.example.web", "KEYID", "TEAMID")
    assert app["settings"]["certificate_key"] == "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"
