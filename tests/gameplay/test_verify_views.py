"""Verify through the views: gold cards mixed in indistinguishably, your own explanations refused, each
verifier's reliability from gold, and the gold-weighted human score flowing back to the wiki and the author."""

import random
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from explanations.core.rules import rule_matches
from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.models import ActivationExample
from gameplay.core import camp
from gameplay.core.gold import plant_gold, whole_words
from gameplay.core.predict import scale_to_ten
from gameplay.core.reliability import verifier_weight
from gameplay.models import Answer, PlayerProfile, Round
from gameplay.services.human_scores import human_scores_update
from scoring.models import ExplanationScore

from .conftest import (
    MAX_ACTIVATION,
    answer_url,
    build_toy_feature,
    items_of,
    login,
    make_player,
    round_of,
    toy_live_values,
)

pytestmark = pytest.mark.django_db


def start(client, explanation=None):
    response = client.post("/play/verify/", {"explanation": explanation.pk} if explanation else {})
    assert response.status_code == 302, response.content[:300]
    return round_of(response)


def answer_all(client, round_obj, says_fits):
    for item in items_of(round_obj):
        client.post(answer_url(round_obj, item), {"fits": "yes" if says_fits(item) else "no"})


def test_verifying_your_own_explanation_is_refused(alice_explanation):
    client = login(alice_explanation.author)

    page = client.get(f"/play/verify/?explanation={alice_explanation.pk}")
    start_attempt = client.post("/play/verify/", {"explanation": alice_explanation.pk})

    assert page.status_code == 403 and start_attempt.status_code == 403
    assert b"cannot verify your own explanation" in start_attempt.content
    assert not Round.objects.exists()


def test_whoever_wrote_the_current_revision_cannot_verify_it_either(player, alice_explanation):
    explanation_services.explanation_revise(
        explanation=alice_explanation, author=player, text="cat after black or white", embed=False
    )
    client = login(player)

    assert client.post("/play/verify/", {"explanation": alice_explanation.pk}).status_code == 403
    assert b"nothing to verify" in client.post("/play/verify/", follow=True).content
    page = client.get(alice_explanation.feature.get_absolute_url()).content.decode()
    assert f"/play/verify/?explanation={alice_explanation.pk}" not in page
    # The first author stays refused; anyone else may verify it.
    form = {"explanation": alice_explanation.pk}
    assert login(alice_explanation.author).post("/play/verify/", form).status_code == 403
    assert login(make_player("third")).post("/play/verify/", form).status_code == 302


def test_own_explanations_are_never_drawn_for_a_round(alice_explanation):
    response = login(alice_explanation.author).post("/play/verify/", follow=True)

    assert b"nothing to verify" in response.content
    assert not Round.objects.exists()


def test_a_round_mixes_gold_cards_into_the_explanations_cards(player, alice_explanation):
    round_obj = start(login(player), alice_explanation)
    items = items_of(round_obj)

    gold = [item for item in items if item.is_gold]
    real = [item for item in items if not item.is_gold]
    assert len(items) == 10 and len(gold) == 2
    assert {item.label for item in gold} == {True, False}  # one active, one silent
    assert all(item.explanation_id == alice_explanation.pk for item in real)
    assert sum(item.label for item in real) == 4 and sum(not item.label for item in real) == 4
    assert all(item.prompt == alice_explanation.text for item in real)


def test_every_card_is_a_window_the_feature_page_does_not_show_with_its_live_truth(player, alice_explanation):
    """The feature page prints its examples' values: a verifier could read the answers there. Real and gold
    cards alike come from other stored windows of the model; a real card's truth is the live value."""
    round_obj = start(login(player), alice_explanation)
    items = items_of(round_obj)
    shown = set(ActivationExample.objects.filter(feature=alice_explanation.feature).values_list("window_id", flat=True))

    assert all(item.window_id is not None and item.window_id not in shown for item in items)
    assert len({item.window_id for item in items}) == len(items)
    for item in items:
        if not item.is_gold:
            live = toy_live_values(item.tokens)
            assert item.truth == scale_to_ten(live[item.marked], MAX_ACTIVATION)
            assert item.label == (live[item.marked] > 0.1 * MAX_ACTIVATION)


def _card_html(page: str) -> str:
    return page.split('id="card"', 1)[1].split("</form>", 1)[0]


def _card_shape(card: str) -> str:
    """The card's HTML with only what differs from card to card by design taken out: the window's words,
    the explanation's words, the card's position and the CSRF token. Everything else must be byte-identical."""
    card = re.sub(r'<p class="game-tokens">.*?</p>', "WINDOW", card, flags=re.S)
    card = re.sub(r'(<blockquote class="verify-explanation">).*?(</blockquote>)', r"\1PROMPT\2", card, flags=re.S)
    card = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "CSRF", card)
    return re.sub(r"Card \d+|/answer/\d+/", "POSITION", card)


def test_gold_cards_look_exactly_like_the_others(player, alice_explanation):
    client = login(player)
    round_obj = start(client, alice_explanation)
    shapes, pages = {}, {}
    for item in items_of(round_obj):
        page = client.get(round_obj.get_absolute_url()).content.decode()
        card = _card_html(page)
        assert card.count('class="gtok marked"') == 1 and "title=" not in card and "style=" not in card
        outside = page.replace(card, "CARD")
        assert "data-" not in _card_shape(card) and "gold" not in (_card_shape(card) + outside).lower()
        shapes.setdefault(item.is_gold, set()).add(_card_shape(card))
        pages.setdefault(item.is_gold, set()).add(re.sub(r"\d+|value=\"[^\"]*\"", "", outside))
        client.post(answer_url(round_obj, item), {"fits": "yes"})
    # Same template, same fields, same markup around: only the window and the explanation's words differ.
    assert len(shapes[True]) == len(shapes[False]) == 1 and shapes[True] == shapes[False]
    assert pages[True] == pages[False]


def test_gold_cards_are_real_windows_with_a_planted_explanation(player, alice_explanation):
    """Not the camp's synthetic texts or its planted explanations, which every verifier has seen: a stored
    window of the same model, not otherwise in the round, and an explanation in the explainer's words whose
    rule gives the certain answer."""
    round_obj = start(login(player), alice_explanation)
    items = items_of(round_obj)
    gold = [item for item in items if item.is_gold]
    real_windows = {item.window_id for item in items if not item.is_gold}

    camp_explanations = {rung.explanation for rung in camp.RUNGS}
    for item in gold:
        assert item.window is not None and item.window.model_id == alice_explanation.feature.source.model_id
        assert item.tokens == item.window.tokens and item.window_id not in real_windows
        assert item.prompt not in camp_explanations and item.prompt.startswith('the token "')
        assert item.explanation_id is None and item.feature_id is None
        assert item.label == (item.truth > 0)
    assert len({item.window_id for item in gold}) == 2 and len({item.prompt for item in gold}) == 1


def test_planted_gold_answers_follow_the_rule():
    windows = [
        ["[CLS]", "the", "black", "cat", "sat", "[SEP]"],
        ["[CLS]", "feed", "the", "cat", "now", "[SEP]"],
        ["[CLS]", "a", "white", "dog", "ran", "[SEP]"],
    ]
    for seed in range(40):
        planted = plant_gold(windows, random.Random(seed), prefer=["cat"])
        assert planted is not None and [card.label for card in planted.cards] == [True, False]
        assert planted.cards[0].window != planted.cards[1].window
        for card in planted.cards:
            tokens = windows[card.window]
            assert rule_matches(planted.rule, tokens)[card.marked] == card.label
            assert (card.truth > 0) == card.label and all(
                (value > 0) == hit for value, hit in zip(card.values, rule_matches(planted.rule, tokens), strict=True)
            )
    # Pieces of words and special tokens are never a gold card's word.
    assert whole_words(["Hello", " wor", "ld", " cat", ".", "[SEP]"]) == [3]
    assert plant_gold([["[CLS]", "[SEP]"]], random.Random(0)) is None


def test_the_human_score_weights_each_verifier_by_gold_accuracy(alice_explanation, client):
    """Three verifiers: a careful one (right on gold, right on the real cards but one silent one), an
    adversary (the opposite of the truth everywhere) and a careless one ("fits" to everything)."""
    careful, adversary, careless = (make_player(name) for name in ("careful", "adversary", "careless"))
    wrong_once = {}

    def careful_reading(item):
        if item.is_gold or item.label:
            return item.label
        if item.round_id not in wrong_once:
            wrong_once[item.round_id] = item.pk
            return True  # one silent card read as fitting
        return False

    for user, reading in [
        (careful, careful_reading),
        (adversary, lambda item: not item.label),
        (careless, lambda item: True),
    ]:
        verifier = login(user)
        answer_all(verifier, start(verifier, alice_explanation), reading)

    profiles = {p.user.username: p for p in PlayerProfile.objects.select_related("user")}
    assert (profiles["careful"].gold_correct, profiles["careful"].gold_total) == (2, 2)
    assert (profiles["adversary"].gold_correct, profiles["careless"].gold_correct) == (0, 1)
    assert profiles["careful"].weight == verifier_weight(2, 2) == 0.5
    assert profiles["adversary"].weight == 0 and profiles["careless"].weight == 0

    score = ExplanationScore.objects.filter(explanation=alice_explanation, scorer="human").latest("pk")
    # Only the careful verifier counts: every active card right (1.0), three of four silent cards right (0.75).
    assert score.value == pytest.approx((1.0 + 0.75) / 2)
    assert score.revision_id == alice_explanation.current_revision_id
    assert score.details["n_verifiers"] == 3 and score.details["n_cards"] == 24
    assert score.details["true_negative_rate"] == 0.75
    assert {v["verifier"] for v in score.details["verdicts"]} == {"v1", "v2", "v3"}  # no user ids in public details

    # Counted without weights, the adversary and the careless verifier would drag it far down.
    answers = Answer.objects.filter(item__explanation=alice_explanation, item__is_gold=False)
    active = [a for a in answers if a.item.label]
    silent = [a for a in answers if not a.item.label]
    fits_on_active = sum(a.says_fits for a in active) / len(active)
    unweighted = (fits_on_active + sum(not a.says_fits for a in silent) / len(silent)) / 2
    assert unweighted < 0.5 < score.value

    # The wiki shows it, and the author hears about it.
    feature_page = client.get(alice_explanation.feature.get_absolute_url()).content.decode()
    assert "human 0.875" in feature_page
    author_hub = login(alice_explanation.author).get("/play/").content.decode()
    assert "Your explanations, as verified" in author_hub and "0.88" in author_hub
    author_profile = client.get(f"/u/{alice_explanation.author.username}/").content.decode()
    assert "Explanations verified by players" in author_profile


def test_each_answer_reveals_what_the_feature_really_did(player, alice_explanation):
    client = login(player)
    round_obj = start(client, alice_explanation)
    item = items_of(round_obj)[0]

    revealed = client.post(answer_url(round_obj, item), {"fits": "no"}, HTTP_HX_REQUEST="true").content.decode()

    assert ("active" if item.label else "silent") in revealed
    assert f"{item.truth:.1f}" in revealed and "Next card" in revealed


def test_a_verdict_must_be_yes_or_no_and_counts_once(player, alice_explanation):
    client = login(player)
    round_obj = start(client, alice_explanation)
    item = items_of(round_obj)[0]

    missing = client.post(answer_url(round_obj, item), {}, HTTP_HX_REQUEST="true")
    client.post(answer_url(round_obj, item), {"fits": "yes"})
    client.post(answer_url(round_obj, item), {"fits": "no"})

    assert missing.status_code == 400
    assert list(Answer.objects.filter(item=item).values_list("says_fits", flat=True)) == [True]


def test_finishing_a_round_pays_for_gold_accuracy_only(player, alice_explanation):
    client = login(player)
    round_obj = start(client, alice_explanation)

    answer_all(client, round_obj, lambda item: item.label if item.is_gold else True)

    round_obj.refresh_from_db()
    assert round_obj.skill == 1.0  # both gold cards right
    assert round_obj.xp == 60 and round_obj.bones == 15
    summary = client.get(round_obj.get_absolute_url()).content.decode()
    assert "Gold accuracy" in summary and alice_explanation.text in summary


def test_verify_is_locked_before_the_camp(rookie, alice_explanation):
    assert login(rookie).post("/play/verify/").status_code == 403


def _latest_human(explanation):
    return (
        ExplanationScore.objects.filter(explanation=explanation, scorer="human").order_by("-created_at", "-pk").first()
    )


@pytest.fixture
def bob_explanation(toy_feature):
    return explanation_services.explanation_create(
        feature=toy_feature, author=make_player("bob"), text="the word cat", embed=False
    )


def test_human_scores_follow_a_verifiers_reliability_when_it_changes_later(alice_explanation, bob_explanation):
    """A verifier who reads alice's explanation perfectly but misses a gold card counts for nothing at first;
    once later gold answers show them reliable, alice's human score is recomputed with their new weight, in
    the same request that finished the later round."""
    careful, late = make_player("careful"), make_player("late")
    careful_client, late_client = login(careful), login(late)
    answer_all(
        careful_client, start(careful_client, alice_explanation), lambda item: item.label if item.is_gold else True
    )
    first_gold = {}

    def one_gold_wrong(item):
        if item.is_gold and not first_gold:
            first_gold[item.pk] = True
            return not item.label
        return item.label

    answer_all(late_client, start(late_client, alice_explanation), one_gold_wrong)
    assert PlayerProfile.objects.get(user=late).weight == verifier_weight(1, 2) == 0
    # Only the careful verifier counts: every active card "fits" (right), every silent one "fits" (wrong).
    assert _latest_human(alice_explanation).value == pytest.approx(0.5)

    answer_all(late_client, start(late_client, bob_explanation), lambda item: item.label)

    late_weight = verifier_weight(3, 4)
    assert PlayerProfile.objects.get(user=late).weight == pytest.approx(late_weight) and late_weight > 0
    score = _latest_human(alice_explanation)
    careful_weight = verifier_weight(2, 2)
    # Active cards: both verifiers right. Silent cards: only the late verifier right, now with weight 1/3.
    true_negative_rate = late_weight / (careful_weight + late_weight)
    assert score.value == pytest.approx((1.0 + true_negative_rate) / 2)
    assert score.details["true_negative_rate"] == pytest.approx(true_negative_rate, abs=1e-4)
    assert score.revision_id == alice_explanation.current_revision_id
    page = Client().get(alice_explanation.feature.get_absolute_url()).content.decode()
    assert f"human {score.value:.3f}" in page


def test_a_human_score_no_reliable_verifier_supports_leaves_the_wiki(alice_explanation, bob_explanation):
    verifier = make_player("verifier")
    client = login(verifier)
    answer_all(client, start(client, alice_explanation), lambda item: item.label)
    assert _latest_human(alice_explanation).value == 1.0

    answer_all(client, start(client, bob_explanation), lambda item: not item.label if item.is_gold else item.label)

    assert PlayerProfile.objects.get(user=verifier).weight == verifier_weight(2, 4) == 0
    assert _latest_human(alice_explanation) is None and _latest_human(bob_explanation) is None
    assert Answer.objects.filter(item__explanation=alice_explanation).count() == 8  # the verdicts stay


def test_recomputing_human_scores_takes_the_same_queries_for_many_explanations(alice_explanation, bob_explanation):
    for name in ("v1", "v2"):
        client = login(make_player(name))
        for explanation in (alice_explanation, bob_explanation):
            answer_all(client, start(client, explanation), lambda item: item.label)
    explanations = Explanation.objects.select_related("current_revision")
    stored = ExplanationScore.objects.count()

    with CaptureQueriesContext(connection) as one:
        human_scores_update(explanations=explanations.filter(pk=alice_explanation.pk))
    with CaptureQueriesContext(connection) as both:
        scores = human_scores_update(explanations=explanations.all())

    # The explanations, their verdicts, their latest scores; the scores have not changed, so nothing is written.
    assert len(one) == len(both) == 3
    assert set(scores) == {alice_explanation.pk, bob_explanation.pk}
    assert ExplanationScore.objects.count() == stored


def test_the_feature_page_links_each_explanation_to_verify(player, alice_explanation, bob_explanation):
    url = alice_explanation.feature.get_absolute_url()
    verify_alice = f'href="/play/verify/?explanation={alice_explanation.pk}"'
    verify_bob = f'href="/play/verify/?explanation={bob_explanation.pk}"'

    as_player = login(player).get(url).content.decode()
    as_alice = login(alice_explanation.author).get(url).content.decode()

    assert verify_alice in as_player and verify_bob in as_player
    assert verify_alice not in as_alice and verify_bob in as_alice  # never a link to verify your own


def test_verify_starts_from_the_explanation_the_feature_page_named(player, alice_explanation, bob_explanation):
    client = login(player)

    page = client.get(f"/play/verify/?explanation={bob_explanation.pk}").content.decode()
    round_obj = start(client, bob_explanation)

    assert bob_explanation.text in page and f'name="explanation" value="{bob_explanation.pk}"' in page
    real = [item for item in items_of(round_obj) if not item.is_gold]
    assert real and {item.explanation_id for item in real} == {bob_explanation.pk}
    # Its author following the same link is refused, on the page and when starting.
    author = login(bob_explanation.author)
    assert author.get(f"/play/verify/?explanation={bob_explanation.pk}").status_code == 403
    assert author.post("/play/verify/", {"explanation": bob_explanation.pk}).status_code == 403


def test_a_rookie_following_the_link_is_sent_to_the_camp_first(rookie, alice_explanation):
    page = login(rookie).get(f"/play/verify/?explanation={alice_explanation.pk}").content.decode()

    assert "training camp" in page and "Start verifying" not in page


def test_one_verifier_playing_five_rounds_moves_a_human_score_no_more_than_one_round(alice_explanation):
    """Two verifiers with the same (long, perfect) gold record: a careless one says "fits" to everything once;
    a keen one reads every card right, then replays the explanation four more times. Only their latest verdict
    per card counts and each counts once per revision, so the replays cannot outvote the careless verifier."""
    careless, keen = (make_player(name, gold_correct=1000, gold_total=1000) for name in ("careless", "keen"))
    careless_client, keen_client = login(careless), login(keen)
    answer_all(
        careless_client,
        start(careless_client, alice_explanation),
        lambda item: True if not item.is_gold else item.label,
    )
    alone = _latest_human(alice_explanation).value
    answer_all(keen_client, start(keen_client, alice_explanation), lambda item: item.label)
    after_one = _latest_human(alice_explanation).value

    for _ in range(4):
        answer_all(keen_client, start(keen_client, alice_explanation), lambda item: item.label)

    after_five = _latest_human(alice_explanation).value
    assert alone == pytest.approx(0.5) and after_one == pytest.approx(0.75, abs=1e-3)
    assert abs(after_five - alone) <= abs(after_one - alone) + 1e-3
    assert Answer.objects.filter(user=keen, item__explanation=alice_explanation).count() == 5 * 8  # all kept


def test_an_explanation_whose_model_cannot_run_here_is_passed_over_or_refused_with_a_message(player, alice_explanation):
    gone = build_toy_feature(slug="gone")
    gone.source.model.path = "/no/such/checkpoint"
    gone.source.model.save()
    stranded = explanation_services.explanation_create(
        feature=gone, author=make_player("bob"), text="the word cat", embed=False
    )
    client = login(player)

    drawn = start(client)  # both are drawn; the one that cannot be played is passed over
    refused = client.post("/play/verify/", {"explanation": stranded.pk}, follow=True)

    real = [item for item in items_of(drawn) if not item.is_gold]
    assert real and {item.explanation_id for item in real} == {alice_explanation.pk}
    assert refused.status_code == 200 and "cannot be played right now" in refused.content.decode()
    assert Round.objects.count() == 1
