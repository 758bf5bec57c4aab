"""Achievements are awarded once through play; the profile page shows the game's stats, and the hub the
player's level and character."""

import pytest

from gameplay.models import EarnedAchievement, LedgerEntry, PlayerProfile

from .conftest import login, make_player, play_predict_round, round_of

pytestmark = pytest.mark.django_db


def test_a_first_good_round_earns_its_achievements_once_with_bonuses_for_skill_only(toy_feature):
    player = make_player("achiever")
    client = login(player)

    for _ in range(2):
        play_predict_round(client, round_of(client.post("/play/predict/", {"feature": toy_feature.pk})))

    earned = set(EarnedAchievement.objects.filter(user=player).values_list("slug", flat=True))
    assert {"first-predict", "sharp-eye", "graduate"} <= earned
    bonuses = dict(LedgerEntry.objects.filter(user=player, reason="achievement").values_list("memo", "amount"))
    assert bonuses == {"Graduate": 25, "Sharp eye": 20}  # "First guess" is a badge, not a payout


def test_the_profile_page_shows_the_players_game_stats(toy_feature, client):
    player = make_player("shown", xp=350, streak=2, best_streak=9, equipped={"hat": "crown"})
    EarnedAchievement.objects.create(user=player, slug="streak-7")

    html = client.get("/u/shown/").content.decode()

    assert "The game" in html and "Level" in html and "best 9" in html and "Week streak" in html
    assert "/static/gameplay/characters/hat-crown.svg" in html
    assert "Bones" not in html.split("The game", 1)[1].split("</section>", 1)[0]  # the balance is private


def test_the_owner_sees_their_balance_on_their_profile(toy_feature):
    player = make_player("owner", balance=0)
    html = login(player).get("/u/owner/").content.decode()

    assert "Bones" in html.split("The game", 1)[1].split("</section>", 1)[0]


def test_a_profile_view_never_creates_a_player(client, db):
    from .conftest import make_user

    make_user("lurker")
    assert client.get("/u/lurker/").status_code == 200
    assert not PlayerProfile.objects.exists()


def test_the_hub_shows_level_bones_and_modes(player):
    html = login(player).get("/play/").content.decode()

    for text in ("Level 1", "Bones", "Training camp", "Predict", "Explain", "Verify", "Daily feature"):
        assert text in html
    assert "🔒" not in html


def test_the_hub_locks_real_modes_for_rookies_and_invites_guests(rookie, client):
    assert "🔒 Unlocks after the training camp" in login(rookie).get("/play/").content.decode()
    assert "Log in to play" in client.get("/play/").content.decode()
