"""Leaderboards rank by average skill (not volume), need a minimum of rounds, come all-time and weekly,
and always show the viewer's own rank."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gameplay.models import Round

from .conftest import login, make_player

pytestmark = pytest.mark.django_db


def finished_rounds(user, skills, *, mode="predict", days_ago=0):
    when = timezone.now() - timedelta(days=days_ago)
    for skill in skills:
        Round.objects.create(user=user, mode=mode, status="finished", skill=skill, finished_at=when)


def ranks(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [row.split("</a>")[0].rsplit(">", 1)[1] for row in body.split("<tr")[1:]]


def test_players_are_ranked_by_average_skill_not_by_how_much_they_play(client, db):
    sharp, grinder, middling = make_player("sharp"), make_player("grinder"), make_player("middling")
    finished_rounds(sharp, [0.9, 0.8, 0.85])
    finished_rounds(grinder, [0.3] * 40)
    finished_rounds(middling, [0.5, 0.6, 0.7])

    html = client.get("/play/leaderboard/").content.decode()

    assert ranks(html) == ["sharp", "middling", "grinder"]
    assert "0.850" in html and "0.600" in html


def test_players_below_the_minimum_rounds_are_left_off(client, db, settings):
    settings.GAME_LEADERBOARD_MIN_ROUNDS = 3
    finished_rounds(make_player("lucky"), [1.0, 1.0])
    finished_rounds(make_player("steady"), [0.5, 0.5, 0.5])

    assert ranks(client.get("/play/leaderboard/").content.decode()) == ["steady"]


def test_the_weekly_board_counts_the_last_seven_days(client, db):
    old_star, new_star = make_player("oldstar"), make_player("newstar")
    finished_rounds(old_star, [0.95] * 3, days_ago=30)
    finished_rounds(new_star, [0.6] * 3)

    all_time = ranks(client.get("/play/leaderboard/?period=all").content.decode())
    weekly = ranks(client.get("/play/leaderboard/?period=week").content.decode())

    assert all_time == ["oldstar", "newstar"] and weekly == ["newstar"]


def test_boards_are_per_mode(client, db):
    finished_rounds(make_player("explainer"), [0.9] * 3, mode="explain")
    finished_rounds(make_player("predictor"), [0.7] * 3)

    assert ranks(client.get("/play/leaderboard/?board=explain").content.decode()) == ["explainer"]
    assert ranks(client.get("/play/leaderboard/?board=predict").content.decode()) == ["predictor"]


def test_your_own_rank_is_shown_even_below_the_top_rows(db):
    for number in range(25):
        finished_rounds(make_player(f"p{number:02d}"), [0.5 + number / 100] * 3)
    me = make_player("me")
    finished_rounds(me, [0.1] * 3)

    html = login(me).get("/play/leaderboard/").content.decode()

    assert "me" not in ranks(html) and len(ranks(html)) == 20
    assert "Your rank: <strong>#26</strong>" in html


def test_equal_averages_share_a_rank(db):
    for name in ("a1", "a2"):
        finished_rounds(make_player(name), [0.8] * 3)
    me = make_player("me")
    finished_rounds(me, [0.8] * 3)

    html = login(me).get("/play/leaderboard/").content.decode()

    assert html.count('<td class="num">1</td>') == 3 and "Your rank: <strong>#1</strong>" in html


def test_a_player_short_of_rounds_is_told_how_many_they_need(db):
    me = make_player("me")
    finished_rounds(me, [0.9])

    html = login(me).get("/play/leaderboard/").content.decode()

    assert "You have 1 of the 3 rounds needed" in html


def test_an_unknown_board_is_not_found(client, db):
    assert client.get("/play/leaderboard/?board=bones").status_code == 404
