"""The admin lists the game's records and changes none of them."""

import pytest

from gameplay.services.ledger import ledger_grant

from .conftest import login, make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["playerprofile", "ledgerentry", "round", "answer", "dailyfeature"])
def test_staff_can_list_the_games_records(model):
    staff = make_user("staff", is_staff=True, is_superuser=True)
    ledger_grant(user=staff, amount=5, reason="adjustment", key="x")

    assert login(staff).get(f"/admin/gameplay/{model}/").status_code == 200


def test_ledger_entries_cannot_be_changed_or_deleted_in_the_admin():
    staff = make_user("staff", is_staff=True, is_superuser=True)
    entry, _ = ledger_grant(user=staff, amount=5, reason="adjustment", key="x")
    client = login(staff)

    assert client.get("/admin/gameplay/ledgerentry/add/").status_code == 403
    assert client.post(f"/admin/gameplay/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
