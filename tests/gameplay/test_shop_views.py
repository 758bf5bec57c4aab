"""The shop through the views: buying with Bones (never below zero, once per form), inventory, equipping
pixel-art items on the character, and consumables."""

import pytest

from gameplay.core.catalogue import BY_SLUG, CATALOGUE
from gameplay.core.pixelart import character_svg, static_files
from gameplay.models import InventoryItem, LedgerEntry, PlayerProfile
from gameplay.selectors import ledger_balance
from gameplay.services.ledger import ledger_grant

from .conftest import login, make_player

pytestmark = pytest.mark.django_db


def rich(username: str = "rich", bones: int = 100):
    user = make_player(username, graduated=False)  # no achievement bonuses in the way
    ledger_grant(user=user, amount=bones, reason="adjustment", key=f"seed:{username}")
    return user


def buy(client, slug: str, token: str):
    return client.post(f"/play/shop/buy/{slug}/", {"token": token}, follow=True)


def test_the_shop_lists_every_item_with_its_picture_and_price(player):
    html = login(player).get("/play/shop/").content.decode()

    for item in CATALOGUE:
        assert item.name in html and f"items/{item.slug}.svg" in html and f"{item.price} 🦴" in html


def test_buying_takes_the_price_and_adds_the_item(db):
    user = rich()
    response = buy(login(user), "cap", "t1")

    assert "Bought!" in response.content.decode()
    assert InventoryItem.objects.filter(user=user, item="cap").exists()
    profile = PlayerProfile.objects.get(user=user)
    assert profile.balance == 70 == ledger_balance(user=user)
    assert LedgerEntry.objects.get(user=user, reason="purchase").amount == -30


def test_a_resubmitted_purchase_form_charges_once(db):
    user = rich()
    client = login(user)

    buy(client, "hint", "same")
    buy(client, "hint", "same")

    profile = PlayerProfile.objects.get(user=user)
    assert profile.hints == 1 and profile.balance == 85
    assert LedgerEntry.objects.filter(user=user, reason="purchase").count() == 1


def test_you_cannot_spend_bones_you_do_not_have(db):
    user = rich(bones=20)

    response = buy(login(user), "cap", "t1")

    assert "costs 30 Bones and you have 20" in response.content.decode()
    assert PlayerProfile.objects.get(user=user).balance == 20
    assert not InventoryItem.objects.exists()


def test_a_cosmetic_is_bought_once(db):
    user = rich()
    client = login(user)

    buy(client, "cap", "t1")
    response = buy(client, "cap", "t2")

    assert "already own" in response.content.decode()
    assert PlayerProfile.objects.get(user=user).balance == 70


def test_consumables_add_up(db):
    user = rich()
    client = login(user)

    buy(client, "streak-freeze", "a")
    buy(client, "streak-freeze", "b")

    assert PlayerProfile.objects.get(user=user).streak_freezes == 2


def test_equipping_puts_the_item_on_the_character(db):
    user = rich()
    client = login(user)
    buy(client, "wizard", "t1")

    client.post("/play/shop/equip/", {"slot": "hat", "item": "wizard"})
    html = client.get("/play/shop/").content.decode()

    assert PlayerProfile.objects.get(user=user).equipped == {"hat": "wizard"}
    assert "/static/gameplay/characters/hat-wizard.svg" in html
    client.post("/play/shop/equip/", {"slot": "hat", "item": ""})
    assert PlayerProfile.objects.get(user=user).equipped == {}


def test_you_cannot_wear_what_you_do_not_own_or_in_the_wrong_slot(db):
    user = rich()
    client = login(user)
    buy(client, "cap", "t1")

    not_owned = client.post("/play/shop/equip/", {"slot": "hat", "item": "crown"}, follow=True)
    wrong_slot = client.post("/play/shop/equip/", {"slot": "pet", "item": "cap"}, follow=True)

    assert "Buy the crown first" in not_owned.content.decode()
    assert "does not go there" in wrong_slot.content.decode()
    assert PlayerProfile.objects.get(user=user).equipped == {}


def test_shopping_needs_a_login(client):
    assert client.post("/play/shop/buy/cap/", {"token": "x"}).status_code == 302
    assert not LedgerEntry.objects.exists()


def test_the_ledger_page_lists_every_entry(db):
    user = rich()
    buy(login(user), "cap", "t1")

    html = login(user).get("/play/bones/").content.decode()

    assert "Baseball cap" in html and "-30" in html and "+100" in html


def test_the_static_item_pictures_are_drawn_from_the_sprites():
    """`python -m gameplay.core.pixelart` writes them; they must not drift from the code."""
    for path, text in static_files().items():
        assert path.read_text(encoding="utf-8") == text, f"run python -m gameplay.core.pixelart ({path.name} is stale)"


def test_every_item_is_drawn_as_pixels():
    svg = character_svg({"hat": "crown", "pet": "bandana", "colour": "mint"})
    assert svg.startswith("<svg") and 'shape-rendering="crispEdges"' in svg and "<rect" in svg
    assert "#6ee7b7" in svg  # mint
    assert set(BY_SLUG) == {item.slug for item in CATALOGUE}
