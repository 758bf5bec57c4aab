from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

SIGNUP = {
    "username": "carol",
    "email": "carol@example.com",
    "password1": "a long and unusual passphrase",
    "password2": "a long and unusual passphrase",
}


def test_signup_creates_the_user_and_logs_them_in(client, db):
    response = client.post(reverse("account_signup"), SIGNUP)

    # Verification is optional, so signing up does not stop at "check your inbox".
    assert response.status_code == 302
    assert response.url == "/"
    user = get_user_model().objects.get(username="carol")
    assert user.email == "carol@example.com"
    assert user.check_password(SIGNUP["password1"])
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signup_sends_a_confirmation_email(client, db):
    client.post(reverse("account_signup"), SIGNUP)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["carol@example.com"]
    assert "/accounts/confirm-email/" in message.body
    user = get_user_model().objects.get(username="carol")
    assert user.emailaddress_set.get().verified is False


def test_signup_rejects_mismatched_passwords(client, db):
    response = client.post(reverse("account_signup"), {**SIGNUP, "password2": "something else entirely"})

    assert response.status_code == 200
    assert "You must type the same password each time." in response.text
    assert not get_user_model().objects.filter(username="carol").exists()
    assert "_auth_user_id" not in client.session


def test_signup_rejects_a_taken_username(client, alice):
    response = client.post(reverse("account_signup"), {**SIGNUP, "username": "alice"})

    assert response.status_code == 200
    assert "A user with that username already exists." in response.text
    assert get_user_model().objects.filter(username="alice").count() == 1


def test_signup_page_renders_inside_the_site_layout(client, db):
    response = client.get(reverse("account_signup"))

    html = response.text
    assert '<header class="site-header">' in html
    assert "<title>Sign up · Neuronpedia</title>" in html
    for field in ("username", "email", "password1", "password2"):
        assert f'name="{field}"' in html
    assert f'href="{reverse("account_login")}"' in html
