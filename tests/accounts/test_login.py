from django.urls import reverse

from .conftest import PASSWORD


def test_login_page_offers_username_or_email_and_a_signup_link(client, db):
    response = client.get(reverse("account_login"))

    html = response.text
    assert '<header class="site-header">' in html
    assert "<title>Log in · Neuronpedia</title>" in html
    assert '<label for="id_login">Username or email:</label>' in html
    assert 'name="password"' in html
    assert f'<a href="{reverse("account_signup")}">Create an account</a>' in html
    assert f'href="{reverse("account_reset_password")}"' in html


def test_login_with_username_works(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == "/"
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_login_with_email_works(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice@example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_login_follows_the_next_parameter(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice", "password": PASSWORD, "next": "/u/alice/"})

    assert response.url == "/u/alice/"


def test_wrong_password_fails_with_a_form_error_and_no_session(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice", "password": "not the password"})

    assert response.status_code == 200
    assert "The username and/or password you specified are not correct." in response.text
    assert "_auth_user_id" not in client.session
    # The page is the login form again, ready for another try.
    assert 'name="login"' in response.text
