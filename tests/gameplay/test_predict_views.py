"""Predict on real features, through the views: the round's mix, truth hidden until the answer, the
instant reveal, skill from the formula, paying once, hints."""

import re

import pytest

from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.models import ActivationExample
from gameplay.core.predict import predict_skill, scale_to_ten
from gameplay.models import Answer, LedgerEntry, PlayerProfile, Round
from gameplay.selectors import ledger_balance

from .conftest import (
    MAX_ACTIVATION,
    answer_url,
    build_toy_feature,
    items_of,
    login,
    make_player,
    play_predict_round,
    round_of,
    toy_live_values,
)

pytestmark = pytest.mark.django_db


def achievement_bonuses(user) -> int:
    return sum(LedgerEntry.objects.filter(user=user, reason="achievement").values_list("amount", flat=True))


def start(client, feature):
    response = client.post("/play/predict/", {"feature": feature.pk})
    assert response.status_code == 302, response.content[:500]
    return round_of(response)


def number_in(html: str, value: float) -> bool:
    """Whether `value` (to one decimal) appears as a number in the page."""
    return re.search(rf"(?<![\d.]){re.escape(f'{value:.1f}')}(?!\d)", html) is not None


def test_a_round_mixes_high_mid_and_silent_tokens_from_windows_the_feature_page_does_not_show(player, toy_feature):
    round_obj = start(login(player), toy_feature)
    items = items_of(round_obj)
    kinds = [item.kind for item in items]
    shown = set(ActivationExample.objects.filter(feature=toy_feature).values_list("window_id", flat=True))

    assert len(items) == 10
    assert kinds.count("high") == 3 and kinds.count("mid") == 3
    assert kinds.count("lookalike") == 2 and kinds.count("silent") == 2
    assert len({item.window_id for item in items}) == 10  # never the same window twice
    assert not {item.window_id for item in items} & shown  # nothing the feature page shows with its values
    for item in items:
        assert item.tokens == item.window.tokens and item.tokens[item.marked] not in ("[CLS]", "[SEP]")
        live = toy_live_values(item.tokens)  # what inference gives there, the truth at the marked token
        assert item.values == [scale_to_ten(v, MAX_ACTIVATION) for v in live]
        assert item.truth == scale_to_ten(live[item.marked], MAX_ACTIVATION)
    high = sorted(item.truth for item in items if item.kind == "high")
    assert high == [7.1, 8.1, 8.8]  # the strongest tokens there are outside the page, at their window's peak
    assert all(1.0 < item.truth < 5.0 for item in items if item.kind == "mid")
    lookalikes = [item for item in items if item.kind == "lookalike"]
    assert all(item.tokens[item.marked] == "cat" and item.truth == 0 for item in lookalikes)
    assert all(item.truth == 0 for item in items if item.kind == "silent")


def test_the_page_never_shows_the_truth_before_the_answer(player, toy_feature):
    client = login(player)
    round_obj = start(client, toy_feature)

    for item in items_of(round_obj):
        html = client.get(round_obj.get_absolute_url()).content.decode()
        card = html.split('id="card"', 1)[1].split('class="round-tools"', 1)[0]
        assert f'action="{answer_url(round_obj, item)}"' in card  # this card is the one shown
        assert "title=" not in card and "background-color" not in card  # no per-token values at all
        assert not number_in(card, item.truth)
        card = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", card)
        markup = re.sub(r">[^<]*<", "><", card).lower()  # tags and attributes, without the window's words
        for word in ("lookalike", "look-alike", "interval", "top", "silent", "gold", "truth", "data-"):
            assert word not in markup
        if item.truth not in (0.0, 5.0, 10.0):  # 0, 5 and 10 are printed as the slider's scale
            assert not number_in(html, item.truth)
        revealed = client.post(answer_url(round_obj, item), {"guess": 5}, HTTP_HX_REQUEST="true").content.decode()
        assert number_in(revealed, item.truth)  # revealed at once, with the true highlighting
        assert "background-color" in revealed or item.truth == 0


def test_answering_shows_the_reveal_fragment_to_htmx_and_the_whole_page_otherwise(player, toy_feature):
    client = login(player)
    round_obj = start(client, toy_feature)
    first, second = items_of(round_obj)[:2]

    fragment = client.post(answer_url(round_obj, first), {"guess": 3}, HTTP_HX_REQUEST="true")
    page = client.post(answer_url(round_obj, second), {"guess": 3})

    assert "<html" not in fragment.content.decode() and "Next card" in fragment.content.decode()
    assert "<html" in page.content.decode() and "Next card" in page.content.decode()


def test_the_study_panel_shows_the_best_scored_explanation_before_an_unscored_one(player, toy_feature):
    # PostgreSQL puts NULL first in a descending order: an explanation with no score yet must not come
    # out on top there. The unscored one is the older, so only the score can put the other first.
    explanation_services.explanation_create(
        feature=toy_feature, text="anything about pets", method="token-stats", embed=False
    )
    scored = explanation_services.explanation_create(
        feature=toy_feature, text="the word cat after a colour word", method="token-stats", embed=False
    )
    Explanation.objects.filter(pk=scored.pk).update(best_score=0.8)
    client = login(player)
    round_obj = start(client, toy_feature)

    html = client.get(round_obj.get_absolute_url()).content.decode()

    assert "Its best explanation so far: <q>the word cat after a colour word</q>" in html
    assert "anything about pets" not in html


def test_skill_is_one_minus_squared_error_over_the_best_constant_guess(player, toy_feature):
    client = login(player)
    round_obj = start(client, toy_feature)
    items = items_of(round_obj)
    guesses = {item.pk: min(10.0, item.truth + 1.0) for item in items}

    play_predict_round(client, round_obj, guess=lambda item: guesses[item.pk])

    round_obj.refresh_from_db()
    truths = [item.truth for item in items]
    errors = sum((guesses[item.pk] - item.truth) ** 2 for item in items)
    mean = sum(truths) / len(truths)
    expected = 1 - errors / sum((t - mean) ** 2 for t in truths)
    assert round_obj.status == Round.Status.FINISHED
    assert (
        round_obj.skill
        == pytest.approx(expected)
        == pytest.approx(predict_skill([guesses[i.pk] for i in items], truths))
    )
    assert round_obj.xp == round(100 * expected)


@pytest.mark.parametrize("constant", [0.0, 10.0])
def test_always_zero_and_always_ten_both_score_no_skill(player, toy_feature, constant):
    client = login(player)
    round_obj = start(client, toy_feature)

    play_predict_round(client, round_obj, guess=lambda item: constant)

    round_obj.refresh_from_db()
    assert round_obj.skill <= 0
    assert round_obj.xp == 0 and round_obj.bones == 0
    assert not LedgerEntry.objects.filter(user=player, reason="play").exists()


def test_a_round_answered_twice_pays_once(player, toy_feature):
    client = login(player)
    round_obj = start(client, toy_feature)
    items = items_of(round_obj)

    play_predict_round(client, round_obj)  # perfect
    again = play_predict_round(client, round_obj, guess=lambda item: 0)  # every card again, other answers

    round_obj.refresh_from_db()
    assert all(response.status_code == 200 for response in again)
    assert Answer.objects.filter(user=player).count() == 10
    assert [a.guess for a in Answer.objects.filter(item__round=round_obj).order_by("item__position")] == [
        item.truth for item in items
    ]
    entries = LedgerEntry.objects.filter(user=player, reason="play")
    assert entries.count() == 1 and entries.get().amount == round_obj.bones == 20
    assert entries.get().idempotency_key == f"round:{round_obj.pk}"
    profile = PlayerProfile.objects.get(user=player)
    assert profile.balance == ledger_balance(user=player) == 20 + achievement_bonuses(player)
    assert profile.xp == 100 == round_obj.xp


def test_replaying_a_feature_pays_half_each_time(player, toy_feature):
    client = login(player)
    paid = []
    for _ in range(3):
        round_obj = start(client, toy_feature)
        play_predict_round(client, round_obj)
        round_obj.refresh_from_db()
        paid.append(round_obj.bones)

    assert paid == [20, 10, 5]


def test_earnings_stop_at_the_daily_cap(player, toy_feature, settings):
    settings.GAME_DAILY_BONES_CAP = 25
    client = login(player)
    paid = []
    for _ in range(2):
        round_obj = start(client, toy_feature)
        play_predict_round(client, round_obj)
        round_obj.refresh_from_db()
        paid.append(round_obj.bones)

    assert paid == [20, 5]
    assert PlayerProfile.objects.get(user=player).balance - achievement_bonuses(player) == 25


def test_someone_elses_round_is_not_found(player, toy_feature):
    round_obj = start(login(player), toy_feature)
    intruder = make_player("intruder")

    assert login(intruder).get(round_obj.get_absolute_url()).status_code == 404
    assert login(intruder).post(answer_url(round_obj, items_of(round_obj)[0]), {"guess": 1}).status_code == 404
    assert not Answer.objects.exists()


def test_a_guess_outside_the_scale_is_refused(player, toy_feature):
    client = login(player)
    round_obj = start(client, toy_feature)
    item = items_of(round_obj)[0]

    response = client.post(answer_url(round_obj, item), {"guess": 11}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert b"from 0 to 10" in response.content
    assert not Answer.objects.exists()


def test_real_features_are_locked_until_the_camp_is_passed(rookie, toy_feature):
    response = login(rookie).post("/play/predict/", {"feature": toy_feature.pk})

    assert response.status_code == 403
    assert b"training camp" in response.content
    assert not Round.objects.exists()


def test_a_hint_reveals_a_silent_lookalike_and_costs_one_hint(toy_feature):
    player = make_player("hinter", hints=1)
    client = login(player)
    round_obj = start(client, toy_feature)

    client.post(f"/play/round/{round_obj.pk}/hint/")
    page = client.get(round_obj.get_absolute_url()).content.decode()
    second_try = client.post(f"/play/round/{round_obj.pk}/hint/", follow=True).content.decode()

    hinted = [item for item in items_of(round_obj) if item.hinted]
    assert len(hinted) == 1 and hinted[0].kind == "lookalike"
    assert f"card {hinted[0].position + 1} is a silent look-alike" in page
    assert "no hints left" in second_try
    assert PlayerProfile.objects.get(user=player).hints == 0


def test_logged_out_players_are_sent_to_log_in(client, toy_feature):
    response = client.post("/play/predict/", {"feature": toy_feature.pk})

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.slow
def test_cards_of_a_real_model_are_held_out_windows_whose_truth_is_live_inference(
    db, tiny_bert_dir, sample_corpus_file
):
    """With a real (tiny) model on disk: every card's window is a stored window of the model that is not among
    the feature's examples (which its page shows with their values), and its values are the feature's live
    activations there, as inference on that one window gives them."""
    from features.inference import feature_activations_for_token_ids
    from features.models import Feature
    from features.services import activation_runs

    run = activation_runs.activation_run_create(
        model_path=str(tiny_bert_dir), model_slug="tiny-bert", layers=[2], corpus=str(sample_corpus_file),
        n_windows=36, window_len=16, top_k=4, sync=True,
    )  # fmt: skip
    assert activation_runs.activation_run_start(run_id=run.pk).status == "succeeded"
    feature = (
        Feature.objects.filter(source__model__slug="tiny-bert", max_activation__gt=0)
        .select_related("source__model")
        .order_by("-density", "index")
        .first()
    )
    client = login(make_player("infer"))

    response = client.post("/play/predict/", {"feature": feature.pk})

    assert response.status_code == 302, response.content[:300]
    items = items_of(round_of(response))
    shown = set(ActivationExample.objects.filter(feature=feature).values_list("window_id", flat=True))
    assert len(items) >= 5 and shown
    assert {"high", "mid"} & {item.kind for item in items} and {"lookalike", "silent"} & {i.kind for i in items}
    for item in items:
        assert item.window.model_id == feature.source.model_id and item.window_id not in shown
        live = feature_activations_for_token_ids(feature, list(item.window.token_ids))
        assert item.values == pytest.approx([scale_to_ten(v, feature.max_activation) for v in live], abs=0.11)
        assert item.truth == pytest.approx(scale_to_ten(live[item.marked], feature.max_activation), abs=0.11)
        assert item.label == (live[item.marked] > 0.1 * feature.max_activation)


def test_a_feature_whose_model_cannot_run_here_is_refused_with_a_message(player):
    gone = build_toy_feature(slug="gone")
    gone.source.model.path = "/no/such/checkpoint"
    gone.source.model.save()
    client = login(player)

    response = client.post("/play/predict/", {"feature": gone.pk}, follow=True)

    assert response.status_code == 200
    assert (
        "cannot be played right now" in response.content.decode() and "Try another feature" in response.content.decode()
    )
    assert not Round.objects.exists()


def test_starting_rounds_is_rate_limited(player, toy_feature, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "game-round": "2/h"}
    client = login(player)

    statuses = [client.post("/play/predict/", {"feature": toy_feature.pk}).status_code for _ in range(3)]

    assert statuses == [302, 302, 429]
    assert Round.objects.count() == 2


def test_the_games_limits_join_the_wikis():
    from django.conf import settings

    assert settings.WIKI_RATE_LIMITS["game-answer"] == "1200/h"
