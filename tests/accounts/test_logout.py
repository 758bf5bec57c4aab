from django.urls import reverse


def test_logout_by_post_ends_the_session(client, alice):
    client.force_login(alice)

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert response.url == "/"
    assert "_auth_user_id" not in client.session


def test_logout_by_get_only_asks_for_confirmation(client, alice):
    # A link or an image tag must not be able to log someone out: GET shows a form that POSTs.
    client.force_login(alice)

    response = client.get(reverse("account_logout"))

    assert client.session["_auth_user_id"] == str(alice.pk)
    html = response.text
    assert '<header class="site-header">' in html
    assert f'<form class="account-form" method="post" action="{reverse("account_logout")}">' in html
    assert "Are you sure you want to log out?" in html
