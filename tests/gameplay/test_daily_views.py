"""The daily feature: one per day for everyone, one round per player and day, a streak that freezes
cover, and a public, shareable result card."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from gameplay.core.daily import daily_pick
from gameplay.models import DailyFeature, PlayerProfile, Round
from gameplay.services.predict import daily_feature

from .conftest import build_toy_feature, items_of, login, make_player, play_predict_round, round_of

pytestmark = pytest.mark.django_db


def test_the_daily_feature_is_the_same_for_everyone_and_fixed_once_chosen(toy_feature):
    other = build_toy_feature(slug="toy2")
    day = date(2025, 6, 1)
    candidates = sorted([toy_feature.pk, other.pk])

    first = daily_feature(day=day)
    other.explanations.create(method="token-stats")  # the pool changes during the day...

    assert first.pk == daily_pick(day, candidates)
    assert daily_feature(day=day) == first  # ...but the day's feature does not
    assert DailyFeature.objects.count() == 1


def test_features_with_explanations_are_preferred(toy_feature, alice_explanation):
    build_toy_feature(slug="toy2")

    assert daily_feature(day=date(2025, 6, 2)) == toy_feature


def test_one_daily_round_per_player_and_day_with_the_same_windows_for_everyone(toy_feature):
    first, second = make_player("first"), make_player("second")

    round_a = round_of(login(first).post("/play/daily/"))
    again = round_of(login(first).post("/play/daily/"))
    round_b = round_of(login(second).post("/play/daily/"))

    assert round_a == again and round_a.mode == "daily" and round_a.day == timezone.now().date()
    assert [i.window_id for i in items_of(round_a)] == [i.window_id for i in items_of(round_b)]


def test_finishing_the_daily_grows_the_streak_and_shows_a_shareable_card(toy_feature, client):
    player = make_player("streaker", streak=3, best_streak=3, last_daily=timezone.now().date() - timedelta(days=1))
    player_client = login(player)
    round_obj = round_of(player_client.post("/play/daily/"))

    play_predict_round(player_client, round_obj)

    profile = PlayerProfile.objects.get(user=player)
    assert (profile.streak, profile.best_streak, profile.last_daily) == (4, 4, timezone.now().date())
    card = client.get(f"/play/daily/{round_obj.day.isoformat()}/card/streaker/")  # public: no login
    html = card.content.decode()
    assert card.status_code == 200
    assert 'property="og:title"' in html and "streaker" in html and "🟩" * 10 in html
    assert "1.00" in html and "🔥 4" in html


def test_a_missed_day_uses_a_streak_freeze_automatically(toy_feature):
    today = timezone.now().date()
    player = make_player("frozen", streak=5, best_streak=5, streak_freezes=2, last_daily=today - timedelta(days=2))
    client = login(player)

    play_predict_round(client, round_of(client.post("/play/daily/")))

    profile = PlayerProfile.objects.get(user=player)
    assert (profile.streak, profile.streak_freezes) == (6, 1)


def test_without_freezes_a_missed_day_restarts_the_streak(toy_feature):
    today = timezone.now().date()
    player = make_player("broken", streak=5, best_streak=5, last_daily=today - timedelta(days=3))
    client = login(player)

    play_predict_round(client, round_of(client.post("/play/daily/")))

    profile = PlayerProfile.objects.get(user=player)
    assert (profile.streak, profile.best_streak) == (1, 5)


def test_a_card_for_an_unplayed_day_is_not_found(player, client):
    assert client.get("/play/daily/2025-01-01/card/player/").status_code == 404
    assert client.get("/play/daily/not-a-date/card/player/").status_code == 404


def test_the_daily_page_says_when_there_is_nothing_to_play(player):
    html = login(player).get("/play/daily/").content.decode()

    assert "no daily feature yet" in html
    assert not Round.objects.exists()
