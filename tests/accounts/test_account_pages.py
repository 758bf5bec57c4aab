"""allauth's other pages render inside the site layout and still do their job."""

from django.core import mail
from django.urls import reverse

from .conftest import PASSWORD


def test_password_reset_sends_a_reset_link(client, alice):
    page = client.get(reverse("account_reset_password"))
    assert '<header class="site-header">' in page.text
    assert 'name="email"' in page.text

    response = client.post(reverse("account_reset_password"), {"email": "alice@example.com"})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_email_management_lists_the_users_addresses(client, alice):
    client.force_login(alice)

    response = client.get(reverse("account_email"))

    html = response.text
    assert '<header class="site-header">' in html
    assert "alice@example.com" in html
    # The settings pages share a small menu back to the profile and to each other.
    assert '<nav class="account-manage-nav"' in html
    assert f'href="{reverse("front:profile", args=["alice"])}"' in html
    assert f'href="{reverse("account_change_password")}"' in html


def test_email_management_adds_an_address_and_sends_a_confirmation(client, alice):
    client.force_login(alice)

    client.post(reverse("account_email"), {"action_add": "", "email": "alice@work.example"})

    assert alice.emailaddress_set.filter(email="alice@work.example", verified=False).exists()
    assert [message.to for message in mail.outbox] == [["alice@work.example"]]


def test_email_management_needs_a_login(client, db):
    response = client.get(reverse("account_email"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_password_change_renders_in_the_layout_and_changes_the_password(client, alice):
    client.force_login(alice)
    page = client.get(reverse("account_change_password"))
    assert '<header class="site-header">' in page.text
    assert 'name="oldpassword"' in page.text

    client.post(
        reverse("account_change_password"),
        {
            "oldpassword": PASSWORD,
            "password1": "an even longer new passphrase",
            "password2": "an even longer new passphrase",
        },
    )

    alice.refresh_from_db()
    assert alice.check_password("an even longer new passphrase")
